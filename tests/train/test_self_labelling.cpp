#include <cmath>

#include "../test_util.h"
#include "dcacn/train/self_labelling.h"

namespace dcacn {
namespace {

class SelfLabellingTest : public test::TempDirTest {};
using test::expect_error_containing;

torch::Tensor rows(std::vector<std::vector<float>> values) {
  std::vector<torch::Tensor> r;
  for (auto& v : values) r.push_back(torch::tensor(v));
  return torch::stack(r);
}

std::vector<int64_t> as_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kInt64).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

TEST_F(SelfLabellingTest, PseudoLabelsKeepTheMostConfidentPerClusterWithinTheQuota) {
  // B = 8, K = 2, quota 0.5: at most ceil(0.5 * 8 / 2) = 2 per cluster.
  const torch::Tensor p = rows({{0.97f, 0.03f},
                                {0.91f, 0.09f},
                                {0.99f, 0.01f},
                                {0.95f, 0.05f},
                                {0.60f, 0.40f},  // below the threshold
                                {0.05f, 0.95f},
                                {0.15f, 0.85f},  // below the threshold
                                {0.02f, 0.98f}});
  EXPECT_EQ(as_vector(select_pseudo_labels(p, 0.9, 0.5)),
            (std::vector<int64_t>{0, -1, 0, -1, -1, 1, -1, 1}));
  // A quota of 1 (4 per cluster) keeps every confident image; threshold 0 keeps all up to it.
  EXPECT_EQ(as_vector(select_pseudo_labels(p, 0.9, 1.0)),
            (std::vector<int64_t>{0, 0, 0, 0, -1, 1, -1, 1}));
  EXPECT_EQ(as_vector(select_pseudo_labels(p, 0.0, 1.0)),
            (std::vector<int64_t>{0, 0, 0, 0, -1, 1, 1, 1}));
  // Nothing above the threshold: nothing labelled (the early-stage failure mode is harmless).
  EXPECT_EQ(as_vector(select_pseudo_labels(p, 0.995, 1.0)), (std::vector<int64_t>(8, -1)));
}

TEST_F(SelfLabellingTest, ADominantClusterCannotTakeOverTheBatch) {
  torch::manual_seed(1);
  // 64 images, K = 4, every image confidently in cluster 2 but four in cluster 0.
  torch::Tensor p = torch::full({64, 4}, 0.01f);
  p.select(1, 2).fill_(0.97f);
  for (int64_t i : {3, 17, 40, 63}) {
    p[i].fill_(0.01f);
    p[i][0] = 0.97f;
  }
  const torch::Tensor labels = select_pseudo_labels(p, 0.9, 0.5);  // 8 per cluster at most
  EXPECT_EQ((labels == 2).sum().item<int64_t>(), 8);
  EXPECT_EQ((labels == 0).sum().item<int64_t>(), 4);
  EXPECT_EQ((labels == -1).sum().item<int64_t>(), 52);
}

TEST_F(SelfLabellingTest, BalancedCrossEntropyWeighsEveryClassTheSame) {
  const torch::Tensor p = rows({{0.8f, 0.2f, 0.0f},
                                {0.6f, 0.4f, 0.0f},
                                {0.9f, 0.1f, 0.0f},
                                {0.3f, 0.7f, 0.0f},
                                {0.5f, 0.5f, 0.0f}});
  const torch::Tensor labels = torch::tensor({0, 0, 0, 1, -1});
  // Class 0: mean of -log 0.8, -log 0.6, -log 0.9; class 1: -log 0.7; averaged over 2 classes.
  const double class0 = -(std::log(0.8) + std::log(0.6) + std::log(0.9)) / 3;
  const double want = (class0 - std::log(0.7)) / 2;
  EXPECT_NEAR(balanced_cross_entropy(p, labels).item<double>(), want, 1e-6);
  // No labels: 0, and still part of the graph.
  torch::Tensor q = p.clone().requires_grad_(true);
  torch::Tensor none = balanced_cross_entropy(q, torch::full({5}, -1, torch::kInt64));
  EXPECT_EQ(none.item<double>(), 0.0);
  none.backward();
  EXPECT_TRUE(q.grad().defined());
}

TEST_F(SelfLabellingTest, SameLabelPairsLeaveOutUnlabelledImagesAndTheDiagonal) {
  const torch::Tensor same = same_label_pairs(torch::tensor({1, -1, 1, 0, -1}));
  torch::Tensor want = torch::zeros({5, 5}, torch::kBool);
  want[0][2] = true;
  want[2][0] = true;
  EXPECT_TRUE(same.equal(want.view({5, 5})));
}

// The instance loss without same-label negatives against a loop over the anchors in double.
TEST_F(SelfLabellingTest, ExcludedNegativesMatchTheLoopReference) {
  torch::manual_seed(2);
  const int64_t m = 5;
  const torch::Tensor a = torch::randn({m, 4}, torch::kFloat64);
  const torch::Tensor b = a + 0.4 * torch::randn({m, 4}, torch::kFloat64);
  const torch::Tensor labels = torch::tensor({0, 1, 0, -1, 1});
  const torch::Tensor exclude = same_label_pairs(labels);
  const double t = 0.5;
  auto unit = [](torch::Tensor x) { return x / x.norm(2, 1, true); };
  const torch::Tensor z = torch::cat({unit(a), unit(b)}, 0);
  auto item = [&](int64_t r) { return r % m; };
  double want = 0;
  for (int64_t i = 0; i < 2 * m; ++i) {
    const int64_t pos = (i + m) % (2 * m);
    double denominator = 0;
    for (int64_t k = 0; k < 2 * m; ++k) {
      if (k == i || k == pos) continue;
      const int64_t li = labels[item(i)].item<int64_t>(), lk = labels[item(k)].item<int64_t>();
      if (li >= 0 && li == lk) continue;  // same pseudo-label: not a negative
      denominator += std::exp(z[i].dot(z[k]).item<double>() / t);
    }
    want += -z[i].dot(z[pos]).item<double>() / t + std::log(denominator);
  }
  want /= 2 * m;
  const double got = contrastive_loss(a, b, t, ContrastKind::kDecoupled, exclude).item<double>();
  EXPECT_NEAR(got, want, 1e-9);
  // Excluding nothing is the plain loss.
  EXPECT_NEAR(
      contrastive_loss(a, b, t, ContrastKind::kDecoupled, torch::zeros({m, m}, torch::kBool))
          .item<double>(),
      contrastive_loss(a, b, t, ContrastKind::kDecoupled).item<double>(), 1e-12);
}

// Reliable labels may put a whole batch in one cluster: the rows left without a negative drop
// out of the mean (they were -inf), and the gradient stays finite.
TEST_F(SelfLabellingTest, RowsWithoutNegativesDropOutOfTheMean) {
  torch::manual_seed(3);
  const int64_t m = 4;
  const torch::Tensor a = torch::randn({m, 3}, torch::kFloat64).requires_grad_(true);
  const torch::Tensor b = torch::randn({m, 3}, torch::kFloat64);
  const double t = 0.5;
  // Every item labelled 0: no row has a negative.
  const torch::Tensor all = same_label_pairs(torch::zeros({m}, torch::kInt64));
  const torch::Tensor none = contrastive_loss(a, b, t, ContrastKind::kDecoupled, all);
  EXPECT_EQ(none.item<double>(), 0.0);
  none.backward();
  EXPECT_TRUE(a.grad().isfinite().all().item<bool>());
  // Items 0-2 labelled 0, item 3 unlabelled: rows of 0-2 keep item 3 (both views) as negatives,
  // and row 3 keeps items 0-2; every row has one, so this is the plain mean of the loop above.
  const torch::Tensor some = same_label_pairs(torch::tensor({0, 0, 0, -1}, torch::kInt64));
  EXPECT_TRUE(
      std::isfinite(contrastive_loss(a, b, t, ContrastKind::kDecoupled, some).item<double>()));
  // Two items, both labelled: with the decoupled loss every row has lost all its negatives but
  // under InfoNCE the positive stays in the denominator, which is log 1 = 0 less the positive.
  const torch::Tensor a2 = a.detach().slice(0, 0, 2), b2 = b.slice(0, 0, 2);
  const torch::Tensor pair = same_label_pairs(torch::zeros({2}, torch::kInt64));
  EXPECT_EQ(contrastive_loss(a2, b2, t, ContrastKind::kDecoupled, pair).item<double>(), 0.0);
  const double infonce = contrastive_loss(a2, b2, t, ContrastKind::kInfoNCE, pair).item<double>();
  EXPECT_NEAR(infonce, 0.0, 1e-12);
}

TEST_F(SelfLabellingTest, StageLossIsInstancePlusWeightedCrossEntropy) {
  torch::manual_seed(3);
  const int64_t n = 8, k = 3;
  std::vector<torch::Tensor> h, p;
  for (int v = 0; v < 3; ++v) {
    h.push_back(torch::randn({n, 6}));
    p.push_back(torch::softmax(torch::randn({n, k}), 1));
  }
  const torch::Tensor labels = torch::tensor({0, 2, -1, 1, 0, -1, 2, 1});
  LossOptions losses;
  losses.entropy_weight = 5.0;  // the contrastive stage's weight: not used here
  SelfLabelOptions o;
  o.entropy_weight(3.0);
  o.ce_weight(2.0);
  o.instance_weight(0.5);
  const LossTerms got = self_label_loss(h, p, 2, labels, losses, o);
  const torch::Tensor exclude = same_label_pairs(labels);
  // Pairs (0, 1), (0, 2), (1, 2): globals 0 and 1, local 2.
  const double inst = (contrastive_loss(h[0], h[1], 0.5, losses.instance, exclude) +
                       contrastive_loss(h[0], h[2], 0.5, losses.instance, exclude) +
                       contrastive_loss(h[1], h[2], 0.5, losses.instance, exclude))
                          .item<double>() /
                      3;
  // The cross-entropy of the two global views only.
  double ce = 0;
  for (int g = 0; g < 2; ++g) ce += balanced_cross_entropy(p[g], labels).item<double>() / 2;
  const double ent = (entropy_regularizer(p[0]) + entropy_regularizer(p[1])).item<double>() / 2;
  EXPECT_GT(ent, 1e-3);
  EXPECT_NEAR(got.instance.item<double>(), inst, 1e-5);
  EXPECT_NEAR(got.cluster.item<double>(), ce, 1e-5);
  EXPECT_NEAR(got.entropy.item<double>(), ent, 1e-6);
  EXPECT_NEAR(got.total.item<double>(), 0.5 * inst + 2.0 * ce + 3.0 * ent, 1e-5);
}

TEST_F(SelfLabellingTest, StatisticsCountShareBalanceAndMatchedAccuracy) {
  PseudoLabelStats stats(3, 3);
  // Clusters are a permutation of the classes (cluster c holds class (c + 1) % 3), one error.
  stats.add(torch::tensor({0, 0, 1, 2, -1, 2, -1, -1}), torch::tensor({1, 1, 2, 0, 0, 1, 2, 2}));
  EXPECT_EQ(stats.seen(), 8);
  EXPECT_DOUBLE_EQ(stats.labelled_fraction(), 5.0 / 8);
  EXPECT_DOUBLE_EQ(stats.balance(), 1.0 / 2);  // cluster 1 has 1, clusters 0 and 2 have 2
  EXPECT_DOUBLE_EQ(stats.accuracy(), 4.0 / 5);
  EXPECT_NE(stats.summary().find("pseudo-label ACC 0.800"), std::string::npos) << stats.summary();
  // Round trip through the checkpoint's tensor.
  PseudoLabelStats copy(3, 3);
  copy.load(stats.to_tensor(), "test");
  EXPECT_TRUE(copy.to_tensor().equal(stats.to_tensor()));
  EXPECT_DOUBLE_EQ(copy.accuracy(), stats.accuracy());
  expect_error_containing(
      [&] {
        copy.load(torch::zeros({2, 2}, torch::kInt64), "ck.pt");
      },
      {"ck.pt", "pseudo-label counts"});
  // Unlabelled data: no accuracy.
  PseudoLabelStats unlabelled(3, 0);
  unlabelled.add(torch::tensor({0, 1, 2}), torch::Tensor());
  EXPECT_EQ(unlabelled.accuracy(), -1);
  EXPECT_EQ(unlabelled.summary().find("ACC"), std::string::npos);
  stats.reset();
  EXPECT_EQ(stats.seen(), 0);
  EXPECT_EQ(stats.labelled_fraction(), 0.0);
}

}  // namespace
}  // namespace dcacn
