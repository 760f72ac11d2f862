#include <cmath>

#include "../test_util.h"
#include "dcacn/train/losses.h"

namespace dcacn {
namespace {

class LossesTest : public test::TempDirTest {};

// The loss written out with loops in double precision: the independent reference.
struct Reference {
  double loss;
  std::vector<double> positive;   // s(anchor, positive) / t per anchor
  std::vector<double> negatives;  // sum over the 2M - 2 negatives of exp(s / t) per anchor
};
Reference reference_contrast(const torch::Tensor& a_in, const torch::Tensor& b_in, double t,
                             ContrastKind kind) {
  torch::Tensor z = torch::cat({a_in, b_in}, 0).to(torch::kFloat64);
  const int64_t n = z.size(0), m = n / 2, d = z.size(1);
  std::vector<std::vector<double>> v(n, std::vector<double>(d));
  for (int64_t i = 0; i < n; ++i) {
    double norm = 0;
    for (int64_t f = 0; f < d; ++f) norm += z[i][f].item<double>() * z[i][f].item<double>();
    norm = std::max(std::sqrt(norm), 1e-12);
    for (int64_t f = 0; f < d; ++f) v[i][f] = z[i][f].item<double>() / norm;
  }
  auto sim = [&](int64_t i, int64_t k) {
    double s = 0;
    for (int64_t f = 0; f < d; ++f) s += v[i][f] * v[k][f];
    return s / t;
  };
  Reference ref{0, {}, {}};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t pos = (i + m) % n;
    double negatives = 0;
    for (int64_t k = 0; k < n; ++k) {
      if (k != i && k != pos) negatives += std::exp(sim(i, k));
    }
    const double denominator =
        kind == ContrastKind::kDecoupled ? negatives : negatives + std::exp(sim(i, pos));
    ref.loss += -sim(i, pos) + std::log(denominator);
    ref.positive.push_back(sim(i, pos));
    ref.negatives.push_back(negatives);
  }
  ref.loss /= n;
  return ref;
}

TEST_F(LossesTest, ContrastMatchesTheLoopReference) {
  for (auto kind : {ContrastKind::kDecoupled, ContrastKind::kInfoNCE}) {
    for (double t : {0.5, 1.0, 0.1}) {
      torch::Tensor a = torch::randn({6, 5}), b = a + 0.3 * torch::randn({6, 5});
      const double got = contrastive_loss(a, b, t, kind).item<double>();
      const double want = reference_contrast(a, b, t, kind).loss;
      EXPECT_NEAR(got, want, 1e-5 * std::max(1.0, std::abs(want)))
          << contrast_name(kind) << " t=" << t;
    }
  }
}

// The K cluster-assignment vectors of length N, [K, N], element by element.
torch::Tensor columns_by_loop(const torch::Tensor& p) {
  torch::Tensor out = torch::empty({p.size(1), p.size(0)}, torch::kFloat64);
  for (int64_t i = 0; i < p.size(0); ++i) {
    for (int64_t k = 0; k < p.size(1); ++k) out[k][i] = p[i][k].item<double>();
  }
  return out;
}

// log K - H(q) with q the mean row of p, in double precision loops.
double reference_entropy_term(const torch::Tensor& p) {
  const int64_t n = p.size(0), k = p.size(1);
  double h = 0;
  for (int64_t c = 0; c < k; ++c) {
    double q = 0;
    for (int64_t i = 0; i < n; ++i) q += p[i][c].item<double>();
    q /= n;
    if (q > 0) h -= q * std::log(q);
  }
  return std::log(static_cast<double>(k)) - h;
}

TEST_F(LossesTest, PairLossMatchesTheLoopReferenceInBothReadings) {
  // N = 6 samples, K = 3 clusters, so rows and columns differ; a skewed assignment, so the
  // entropy term is well above 0; distinct weights, so no term can stand in for another.
  const torch::Tensor h_u = torch::randn({6, 5}), h_v = h_u + 0.5 * torch::randn({6, 5});
  const torch::Tensor bias = torch::tensor({2.0f, 0.0f, -1.0f});
  const torch::Tensor p_u = torch::softmax(torch::randn({6, 3}) + bias, 1);
  const torch::Tensor p_v = torch::softmax(torch::randn({6, 3}) + bias, 1);
  LossOptions o;
  o.instance_temperature = 0.5;
  o.cluster_temperature = 0.7;
  o.cluster_weight = 0.6;
  o.entropy_weight = 1.7;
  const double entropy = reference_entropy_term(p_u) + reference_entropy_term(p_v);
  ASSERT_GT(entropy, 0.05);
  const double inst = reference_contrast(h_u, h_v, 0.5, ContrastKind::kDecoupled).loss;
  for (auto reading : {ClusterReading::kRows, ClusterReading::kColumns}) {
    o.reading = reading;
    const bool columns = reading == ClusterReading::kColumns;
    const double clus =
        reference_contrast(columns ? columns_by_loop(p_u) : p_u,
                           columns ? columns_by_loop(p_v) : p_v, 0.7, ContrastKind::kDecoupled)
            .loss;
    const LossTerms got = pair_loss(h_u, p_u, h_v, p_v, o);
    const std::string name = cluster_reading_name(reading);
    EXPECT_NEAR(got.instance.item<double>(), inst, 1e-5) << name;
    EXPECT_NEAR(got.cluster.item<double>(), clus, 1e-5) << name;
    EXPECT_NEAR(got.entropy.item<double>(), entropy, 1e-5) << name;
    EXPECT_NEAR(got.total.item<double>(), inst + 0.6 * clus + 1.7 * entropy, 1e-5) << name;
  }
  // The two readings are different losses on this input.
  const double rows = reference_contrast(p_u, p_v, 0.7, ContrastKind::kDecoupled).loss;
  const double cols =
      reference_contrast(columns_by_loop(p_u), columns_by_loop(p_v), 0.7, ContrastKind::kDecoupled)
          .loss;
  EXPECT_GT(std::abs(rows - cols), 0.05);
}

TEST_F(LossesTest, DecoupledAndInfoNCEDifferByExactlyThePositiveTerm) {
  torch::Tensor a = torch::randn({8, 4}), b = torch::randn({8, 4});
  const double t = 0.5;
  const Reference ref = reference_contrast(a, b, t, ContrastKind::kDecoupled);
  double expected_gap = 0;  // mean of log(S_neg + e^pos) - log(S_neg)
  for (size_t i = 0; i < ref.positive.size(); ++i) {
    expected_gap += std::log1p(std::exp(ref.positive[i]) / ref.negatives[i]);
  }
  expected_gap /= static_cast<double>(ref.positive.size());
  const double gap = (contrastive_loss(a, b, t, ContrastKind::kInfoNCE) -
                      contrastive_loss(a, b, t, ContrastKind::kDecoupled))
                         .item<double>();
  EXPECT_NEAR(gap, expected_gap, 1e-5);
  EXPECT_GT(gap, 0);
}

TEST_F(LossesTest, GradientsMatchFiniteDifferences) {
  LossOptions options;
  for (auto reading : {ClusterReading::kRows, ClusterReading::kColumns}) {
    options.reading = reading;
    torch::Tensor h_u = torch::randn({4, 3}, torch::kFloat64).requires_grad_();
    torch::Tensor logits_u = torch::randn({4, 3}, torch::kFloat64).requires_grad_();
    torch::Tensor h_v = torch::randn({4, 3}, torch::kFloat64);
    torch::Tensor p_v = torch::softmax(torch::randn({4, 3}, torch::kFloat64), 1);
    auto loss = [&] {
      return pair_loss(h_u, torch::softmax(logits_u, 1), h_v, p_v, options).total;
    };
    loss().backward();
    const double eps = 1e-6;
    for (torch::Tensor param : {h_u, logits_u}) {
      const torch::Tensor grad = param.grad().clone();
      torch::NoGradGuard no_grad;
      for (int64_t i = 0; i < param.numel(); ++i) {
        auto flat = param.view(-1);
        const double saved = flat[i].item<double>();
        flat[i] = saved + eps;
        const double up = loss().item<double>();
        flat[i] = saved - eps;
        const double down = loss().item<double>();
        flat[i] = saved;
        EXPECT_NEAR(grad.view(-1)[i].item<double>(), (up - down) / (2 * eps), 1e-6)
            << cluster_reading_name(reading) << " element " << i;
      }
    }
  }
}

TEST_F(LossesTest, DegenerateInputsGiveFiniteValues) {
  LossOptions options;
  const torch::Tensor same = torch::ones({5, 4});  // identical embeddings
  const torch::Tensor one_hot = torch::eye(3).index_select(0, torch::tensor({0, 0, 1, 1, 0}));
  for (auto reading : {ClusterReading::kRows, ClusterReading::kColumns}) {
    for (auto kind : {ContrastKind::kDecoupled, ContrastKind::kInfoNCE}) {
      options.reading = reading;
      options.instance = options.cluster = kind;
      const LossTerms t = pair_loss(same, one_hot, same, one_hot, options);  // cluster 2 empty
      EXPECT_TRUE(std::isfinite(t.total.item<double>()));
      const LossTerms two = pair_loss(torch::randn({2, 4}), torch::softmax(torch::randn({2, 3}), 1),
                                      torch::randn({2, 4}), torch::softmax(torch::randn({2, 3}), 1),
                                      options);  // batch of 2
      EXPECT_TRUE(std::isfinite(two.total.item<double>()));
    }
  }
}

TEST_F(LossesTest, EntropyRegularizer) {
  EXPECT_NEAR(entropy_regularizer(torch::full({6, 4}, 0.25)).item<double>(), 0.0, 1e-6);
  const torch::Tensor collapsed = torch::zeros({6, 4}).index_fill_(1, torch::tensor({2}), 1.0);
  EXPECT_NEAR(entropy_regularizer(collapsed).item<double>(), std::log(4.0), 1e-6);
}

TEST_F(LossesTest, MultiCropAveragesGlobalGlobalAndGlobalLocalPairs) {
  LossOptions options;
  std::vector<torch::Tensor> h, p;
  for (int v = 0; v < 4; ++v) {  // 2 global + 2 local views
    h.push_back(torch::randn({6, 8}));
    p.push_back(torch::softmax(torch::randn({6, 3}), 1));
  }
  const std::vector<std::pair<int, int>> pairs = {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}};
  double expected = 0;
  for (auto [u, v] : pairs)
    expected += pair_loss(h[u], p[u], h[v], p[v], options).total.item<double>();
  expected /= pairs.size();
  EXPECT_NEAR(multicrop_loss(h, p, 2, options).total.item<double>(), expected, 1e-5);
  // Two views only: the single pair.
  EXPECT_NEAR(multicrop_loss({h[0], h[1]}, {p[0], p[1]}, 2, options).total.item<double>(),
              pair_loss(h[0], p[0], h[1], p[1], options).total.item<double>(), 1e-6);
}

}  // namespace
}  // namespace dcacn
