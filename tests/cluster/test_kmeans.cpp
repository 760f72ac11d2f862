#include <ATen/CPUGeneratorImpl.h>

#include "../test_util.h"
#include "dcacn/cluster/kmeans.h"
#include "dcacn/metrics/metrics.h"

namespace dcacn {
namespace {

// [n_per * centres, dim] points around well separated centres, and their true blob index.
std::pair<torch::Tensor, torch::Tensor> blobs(int64_t n_per, int64_t centres, int64_t dim) {
  torch::Tensor mean = torch::randn({centres, dim}) * 20;
  torch::Tensor labels = torch::arange(centres).repeat_interleave(n_per);
  torch::Tensor x = mean.index_select(0, labels) + torch::randn({n_per * centres, dim});
  return {x, labels};
}

// Plain Lloyd in float64 with explicit loops and scikit-learn's stopping rules: the
// independent reference for the bounded, batched implementation.
struct Reference {
  std::vector<int64_t> labels;
  double inertia;
};
Reference plain_lloyd(const torch::Tensor& x_in, torch::Tensor centres_in, int64_t max_iter,
                      double tol) {
  torch::Tensor x = x_in.to(torch::kFloat64).contiguous();
  torch::Tensor c = centres_in.to(torch::kFloat64).contiguous();
  const int64_t n = x.size(0), d = x.size(1), k = c.size(0);
  auto xa = x.accessor<double, 2>();
  std::vector<int64_t> labels(n, -1), previous(n, -2);
  auto assign = [&] {
    auto ca = c.accessor<double, 2>();
    for (int64_t i = 0; i < n; ++i) {
      double best = 1e300;
      for (int64_t j = 0; j < k; ++j) {
        double s = 0;
        for (int64_t f = 0; f < d; ++f) s += (xa[i][f] - ca[j][f]) * (xa[i][f] - ca[j][f]);
        if (s < best) {
          best = s;
          labels[i] = j;
        }
      }
    }
  };
  bool strict = false;
  for (int64_t it = 0; it < max_iter; ++it) {
    assign();
    if (labels == previous) {
      strict = true;
      break;
    }
    torch::Tensor next = torch::zeros_like(c);
    std::vector<double> count(k, 0);
    auto na = next.accessor<double, 2>();
    for (int64_t i = 0; i < n; ++i) {
      count[labels[i]] += 1;
      for (int64_t f = 0; f < d; ++f) na[labels[i]][f] += xa[i][f];
    }
    for (int64_t j = 0; j < k; ++j)
      for (int64_t f = 0; f < d; ++f) na[j][f] /= std::max(count[j], 1.0);
    const double shift = (next - c).pow(2).sum().item<double>();
    c = next;
    previous = labels;
    if (shift <= tol) break;
  }
  if (!strict) assign();
  double inertia = 0;
  auto ca = c.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t f = 0; f < d; ++f) inertia += std::pow(xa[i][f] - ca[labels[i]][f], 2);
  return {labels, inertia};
}

class KMeansTest : public test::TempDirTest {};

TEST_F(KMeansTest, RecoversSeparatedBlobs) {
  auto [x, truth] = blobs(100, 4, 6);
  KMeansOptions options;
  options.k = 4;
  options.n_init = 3;
  const KMeansResult r = kmeans(x, options);
  ASSERT_EQ(r.labels.sizes(), (std::vector<int64_t>{400}));
  ASSERT_EQ(r.centers.sizes(), (std::vector<int64_t>{4, 6}));
  EXPECT_DOUBLE_EQ(score_clustering(truth, r.labels).acc, 1.0);
  EXPECT_EQ(r.runs.size(), 3u);
  for (const auto& run : r.runs) EXPECT_TRUE(run.converged);
}

TEST_F(KMeansTest, SameSeedSameResultOtherSeedStillValid) {
  torch::Tensor x = torch::rand({600, 5});
  KMeansOptions options;
  options.k = 7;
  options.n_init = 4;
  options.seed = 42;
  const KMeansResult a = kmeans(x, options), b = kmeans(x, options);
  EXPECT_TRUE(a.labels.equal(b.labels));
  EXPECT_TRUE(a.centers.equal(b.centers));
  EXPECT_EQ(a.inertia, b.inertia);
  options.seed = 43;
  const KMeansResult c = kmeans(x, options);
  EXPECT_EQ(c.labels.numel(), 600);
  EXPECT_FALSE(c.centers.equal(a.centers));
}

TEST_F(KMeansTest, BoundedLloydMatchesPlainLloydFromTheSameSeeds) {
  // Uniform data has no clear clusters: many iterations, many points near boundaries, so
  // the skipping bounds are exercised hard.
  torch::Tensor x = torch::rand({3000, 8});
  for (uint64_t seed : {0, 1, 2}) {
    KMeansOptions options;
    options.k = 6;
    options.n_init = 1;
    options.seed = seed;
    const KMeansResult fast = kmeans(x, options);
    at::Generator generator = at::detail::createCPUGenerator(seed);
    torch::Tensor seeds = kmeans_plus_plus(x, x.pow(2).sum(1), 6, 1, generator);
    const double tol = 1e-4 * x.to(torch::kFloat64).var(0, false).mean().item<double>();
    const Reference ref = plain_lloyd(x, seeds[0], options.max_iter, tol);
    const torch::Tensor ref_labels = torch::tensor(ref.labels, torch::kInt64);
    // float32 distances against float64: allow a handful of near-tie points to differ.
    EXPECT_LE(fast.labels.ne(ref_labels).sum().item<int64_t>(), 3) << "seed " << seed;
    EXPECT_NEAR(fast.inertia, ref.inertia, 1e-4 * ref.inertia) << "seed " << seed;
  }
}

TEST_F(KMeansTest, InertiaIsTheSumOfSquaredDistancesToAssignedCentres) {
  torch::Tensor x = torch::randn({500, 3});
  KMeansOptions options;
  options.k = 5;
  const KMeansResult r = kmeans(x, options);
  const double direct =
      (x.to(torch::kFloat64) - r.centers.to(torch::kFloat64).index_select(0, r.labels))
          .pow(2)
          .sum()
          .item<double>();
  EXPECT_NEAR(r.inertia, direct, 1e-4 * direct);
  // Every label is the nearest centre.
  EXPECT_TRUE(nearest_center(x, r.centers).equal(r.labels));
}

TEST_F(KMeansTest, SeedingPicksDistinctDataRows) {
  torch::Tensor x = torch::randn({200, 4});
  at::Generator generator = at::detail::createCPUGenerator(5);
  torch::Tensor seeds = kmeans_plus_plus(x, x.pow(2).sum(1), 8, 3, generator);
  ASSERT_EQ(seeds.sizes(), (std::vector<int64_t>{3, 8, 4}));
  for (int64_t r = 0; r < 3; ++r) {
    // Each centre equals some row of x exactly, and no two centres coincide.
    torch::Tensor equal_rows = seeds[r].unsqueeze(1).eq(x.unsqueeze(0)).all(2);  // [8, 200]
    EXPECT_TRUE(equal_rows.any(1).all().item<bool>());
    torch::Tensor self = torch::cdist(seeds[r], seeds[r]) + torch::eye(8) * 1e9;
    EXPECT_GT(self.min().item<float>(), 0.0f);
  }
}

TEST_F(KMeansTest, DuplicatePointsAndOneClusterStayFinite) {
  // Two distinct points repeated, three clusters: seeding must repeat a point and Lloyd must
  // cope with an empty cluster.
  torch::Tensor x = torch::cat({torch::zeros({10, 2}), torch::ones({10, 2})});
  KMeansOptions options;
  options.k = 3;
  options.n_init = 2;
  const KMeansResult r = kmeans(x, options);
  EXPECT_TRUE(torch::isfinite(r.centers).all().item<bool>());
  EXPECT_NEAR(r.inertia, 0.0, 1e-9);
  options.k = 1;
  const KMeansResult one = kmeans(x, options);
  EXPECT_TRUE(one.labels.eq(0).all().item<bool>());
  EXPECT_NEAR(one.inertia, 20 * 0.5, 1e-5);  // each point is (0.5, 0.5) away squared: 0.5
}

TEST_F(KMeansTest, BadOptionsAreRejected) {
  torch::Tensor x = torch::rand({5, 2});
  KMeansOptions options;
  options.k = 6;
  test::expect_error_containing([&] { kmeans(x, options); },
                                {"--k 6", "larger than the number of samples (5)"});
  options.k = 2;
  options.n_init = 0;
  test::expect_error_containing([&] { kmeans(x, options); }, {"--n-init", "got 0"});
}

}  // namespace
}  // namespace dcacn
