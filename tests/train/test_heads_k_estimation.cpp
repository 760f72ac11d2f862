#include <algorithm>

#include "../test_util.h"
#include "dcacn/cluster/neighbours.h"
#include "dcacn/train/heads_k_estimation.h"

namespace dcacn {
namespace {

// `groups` tight groups of `per_group` rows around random directions of a 16-dimensional space,
// and each row's 10 nearest neighbours among them.
struct Groups {
  torch::Tensor features, graph;
};
Groups groups_on_sphere(int64_t groups, int64_t per_group, uint64_t seed, double noise = 0.15) {
  torch::manual_seed(seed);
  const torch::Tensor centres = torch::randn({groups, 16});
  Groups g;
  g.features =
      centres.repeat_interleave(per_group, 0) + noise * torch::randn({groups * per_group, 16});
  NeighbourOptions mine;
  mine.k = std::min<int64_t>(10, groups * per_group - 1);
  g.graph = nearest_neighbours(g.features, mine);
  return g;
}

HeadsKEstimationOptions small_options(int64_t max_k) {
  HeadsKEstimationOptions o;
  o.min_k(2).max_k(max_k).draws(2).seed(3);
  o.heads().heads(4).epochs(20).batch_size(64).lr(1e-2);
  return o;
}

TEST(HeadsKEstimation, FindsTheNumberOfGroupsTheNeighboursJoin) {
  // Groups of some spread: a Gaussian fitted to a few very tight groups is nearly flat along
  // G - 1 directions, and its own cuts are reproducible enough to blur K = G and G + 1 (tight
  // groups of 6 chose 7 or 8 here, the heads' agreement 1.0 at 6-8: past G they leave clusters
  // empty).
  // With bf16 products too: the neighbour stage gives the criterion's heads those where the
  // run's precision is bf16, as its own heads have.
  for (bool bf16 : {false, true})
    for (int64_t groups : {3, 5}) {
      const Groups g = groups_on_sphere(groups, 120, 20 + groups, 0.4);
      HeadsKEstimationOptions o = small_options(8);
      o.heads().bf16(bf16);
      const KEstimate e = estimate_clusters_by_heads(g.features, g.graph, o);
      EXPECT_EQ(e.chosen, groups) << (bf16 ? "bf16 " : "") << e.summary() << "\n" << e.csv();
      EXPECT_EQ(e.method, KCriterion::kHeads);
      ASSERT_EQ(e.ks.size(), 7u);
      const size_t at = static_cast<size_t>(groups - 2);
      // Every head finds the groups; on the Gaussian reference the heads cut it differently.
      EXPECT_GT(e.stability[at], 0.95);
      EXPECT_LT(e.reference[at], e.stability[at] - 0.1);
      EXPECT_DOUBLE_EQ(e.criterion[at], e.stability[at] - e.reference[at]);
      for (double se : e.spread) EXPECT_GE(se, 0.0);
    }
}

TEST(HeadsKEstimation, FollowsTheGraphNotTheFeatures) {
  // The features hold six groups; the graph joins them in pairs (each row's neighbours are
  // random rows of its pair of groups): the neighbours support three clusters.
  const Groups six = groups_on_sphere(6, 80, 7);
  const torch::Tensor pair = torch::arange(6 * 80).div(160, "floor");  // groups 0-1, 2-3, 4-5
  // Each row's neighbours: 10 random rows of its pair of groups.
  torch::manual_seed(8);
  const torch::Tensor offset = torch::randint(160, {6 * 80, 10}, torch::kInt64);
  const torch::Tensor graph = pair.unsqueeze(1) * 160 + offset;
  const KEstimate e = estimate_clusters_by_heads(six.features, graph, small_options(8));
  EXPECT_EQ(e.chosen, 3) << e.summary() << "\n" << e.csv();
}

TEST(HeadsKEstimation, IsReproducibleFromItsSeedAndWritesEveryK) {
  const Groups g = groups_on_sphere(3, 60, 5);
  const HeadsKEstimationOptions o = small_options(5);
  const KEstimate a = estimate_clusters_by_heads(g.features, g.graph, o);
  const KEstimate b = estimate_clusters_by_heads(g.features, g.graph, o);
  EXPECT_EQ(a.stability, b.stability);
  EXPECT_EQ(a.reference, b.reference);
  EXPECT_EQ(a.chosen, b.chosen);
  const std::string csv = a.csv();
  EXPECT_EQ(csv.rfind("k,agreement,standard_error,reference,criterion,chosen\n", 0), 0u);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);  // header + K = 2..5
  EXPECT_NE(a.summary().find("K = " + std::to_string(a.chosen)), std::string::npos);
  std::vector<int64_t> progress;
  estimate_clusters_by_heads(g.features, g.graph, o, [&](int64_t done, int64_t all) {
    progress.push_back(done * 10 + all);
  });
  EXPECT_EQ(progress, (std::vector<int64_t>{14, 24, 34, 44}));
}

TEST(HeadsKEstimation, RefusesBadInput) {
  const Groups g = groups_on_sphere(2, 5, 1);  // 10 rows
  test::expect_error_containing(
      [&] { estimate_clusters_by_heads(g.features, g.graph, small_options(10)); },
      {"needs more than 10 images, got 10"});
  test::expect_error_containing(
      [&] { estimate_clusters_by_heads(g.features, g.graph.slice(0, 0, 5), small_options(4)); },
      {"expected [10, k] neighbours", "[5, 9]"});
}

TEST(HeadsKEstimation, EstimateCoversTheWork) {
  const HeadsKEstimationOptions o = small_options(4);
  const double seconds = heads_k_estimation_seconds(o, 400, 16, 10, torch::kCPU);
  EXPECT_GT(seconds, 0.0);
  EXPECT_EQ(heads_k_estimation_seconds(o, 4, 16, 3, torch::kCPU), 0.0);  // too few rows to run
}

}  // namespace
}  // namespace dcacn
