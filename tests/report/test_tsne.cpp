#include "../test_util.h"
#include "dcacn/report/tsne.h"

namespace dcacn {
namespace {

// Three well-separated Gaussian blobs in 20 dimensions, `per` points each.
torch::Tensor blobs(int64_t per, torch::Tensor* labels) {
  torch::manual_seed(7);
  const torch::Tensor centres = torch::randn({3, 20}) * 10;
  *labels = torch::arange(3).repeat_interleave(per);
  return centres.index_select(0, *labels) + torch::randn({3 * per, 20});
}

// Leave-one-out 1-nearest-neighbour accuracy of `labels` in the embedding.
double nn_accuracy(const torch::Tensor& y, const torch::Tensor& labels) {
  torch::Tensor d = torch::cdist(y, y);
  d.fill_diagonal_(INFINITY);
  return (labels.index_select(0, d.argmin(1)) == labels).to(torch::kDouble).mean().item<double>();
}

TEST(TSNE, JointProbabilitiesAreSymmetricAndNormalised) {
  torch::Tensor labels;
  const torch::Tensor x = blobs(20, &labels).to(torch::kDouble);
  const torch::Tensor d2 = torch::cdist(x, x).pow(2);
  const torch::Tensor p = tsne_joint_probabilities(d2, 10);
  EXPECT_TRUE(torch::allclose(p, p.t()));
  EXPECT_NEAR(p.sum().item<double>(), 1.0, 1e-6);
  // Most of a point's mass lies inside its own blob.
  const torch::Tensor same = labels.unsqueeze(0) == labels.unsqueeze(1);
  EXPECT_GT((p * same).sum().item<double>(), 0.99);
  EXPECT_THROW(tsne_joint_probabilities(d2, 100), std::exception);
}

TEST(TSNE, SeparatesBlobsAndLowersTheDivergenceReproducibly) {
  torch::Tensor labels;
  const torch::Tensor x = blobs(30, &labels);
  TSNEOptions o;
  o.iterations = 300;
  o.exaggeration_iterations = 100;
  o.perplexity = 15;
  int calls = 0;
  const TSNEResult a = tsne(x, o, [&](int64_t, double kl) {
    ++calls;
    EXPECT_TRUE(std::isfinite(kl));
  });
  EXPECT_EQ(calls, 6);
  ASSERT_EQ(a.embedding.sizes(), (std::vector<int64_t>{90, 2}));
  EXPECT_EQ(nn_accuracy(a.embedding, labels), 1.0);
  EXPECT_LT(a.kl_divergence, a.initial_kl);
  const TSNEResult b = tsne(x, o);
  EXPECT_TRUE(a.embedding.equal(b.embedding));
  o.seed = 1;
  EXPECT_FALSE(tsne(x, o).embedding.equal(a.embedding));
}

}  // namespace
}  // namespace dcacn
