#include <algorithm>

#include "../test_util.h"
#include "dcacn/cluster/k_estimation.h"
#include "dcacn/util/error.h"

namespace dcacn {
namespace {

// `groups` tight groups of `per_group` rows around random directions of a 16-dimensional space,
// of unequal sizes (the larger ones twice the smaller).
torch::Tensor groups_on_sphere(int64_t groups, int64_t per_group, uint64_t seed) {
  torch::manual_seed(seed);
  const torch::Tensor centres = torch::randn({groups, 16});
  std::vector<torch::Tensor> rows;
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t count = g % 2 == 0 ? per_group : 2 * per_group;
    rows.push_back(centres[g].unsqueeze(0) + 0.15 * torch::randn({count, 16}));
  }
  return torch::cat(rows);
}

TEST(KEstimation, FindsTheNumberOfWellSeparatedGroups) {
  for (int64_t groups : {3, 6}) {
    const torch::Tensor x = groups_on_sphere(groups, 150, 10 + groups);
    KEstimationOptions o;
    o.min_k(2).max_k(10).pairs(3).subsample(300).seed(1);
    const KEstimate e = estimate_clusters(x, o);
    EXPECT_EQ(e.chosen, groups) << e.summary() << "\n" << e.csv();
    ASSERT_EQ(e.ks.size(), 9u);
    EXPECT_EQ(e.ks.front(), 2);
    EXPECT_EQ(e.ks.back(), 10);
    // The true K is found again from every subsample: the two fits agree almost perfectly, far
    // more than on the Gaussian reference.
    EXPECT_GT(e.stability[groups - 2], 0.95);
    EXPECT_LT(e.reference[groups - 2], 0.9);
    EXPECT_DOUBLE_EQ(e.criterion[groups - 2], e.stability[groups - 2] - e.reference[groups - 2]);
  }
}

TEST(KEstimation, IsReproducibleFromItsSeedAndWritesEveryK) {
  const torch::Tensor x = groups_on_sphere(4, 60, 5);
  KEstimationOptions o;
  o.min_k(2).max_k(7).pairs(2).seed(9);
  const KEstimate a = estimate_clusters(x, o), b = estimate_clusters(x, o);
  EXPECT_EQ(a.stability, b.stability);
  EXPECT_EQ(a.chosen, b.chosen);
  const std::string csv = a.csv();
  EXPECT_EQ(csv.rfind("k,stability,spread,reference,criterion,chosen\n", 0), 0u);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 7);  // header + K = 2..7
  EXPECT_NE(csv.find("\n" + std::to_string(a.chosen) + ","), std::string::npos);
  EXPECT_NE(a.summary().find("K = " + std::to_string(a.chosen)), std::string::npos);
}

TEST(KEstimation, TheOneStandardErrorRuleTakesTheSmallestKNearTheBest) {
  const std::vector<int64_t> ks = {2, 3, 4, 5};
  const std::vector<double> criterion = {0.10, 0.50, 0.58, 0.60};
  // Within 0.05 of the best (0.60 at K = 5): 0.58 at K = 4.
  EXPECT_EQ(one_standard_error_choice(ks, criterion, {0.3, 0.3, 0.3, 0.05}), 4);
  // Within 0.2: 0.50 at K = 3 too; K = 2 (0.10) is not.
  EXPECT_EQ(one_standard_error_choice(ks, criterion, {0.0, 0.0, 0.0, 0.2}), 3);
  // No error: the largest criterion.
  EXPECT_EQ(one_standard_error_choice(ks, criterion, {0.0, 0.0, 0.0, 0.0}), 5);
}

TEST(KEstimation, CriterionNamesParseBothWays) {
  for (KCriterion c : {KCriterion::kHeads, KCriterion::kStability}) {
    EXPECT_EQ(parse_k_criterion(k_criterion_name(c), "--k-criterion"), c);
  }
  test::expect_error_containing([] { parse_k_criterion("gap", "--k-criterion"); },
                                {"--k-criterion must be heads or stability", "'gap'"});
}

TEST(KEstimation, RefusesTooFewRows) {
  const torch::Tensor x = torch::randn({10, 4});
  KEstimationOptions o;
  o.min_k(2).max_k(10);
  test::expect_error_containing([&] { estimate_clusters(x, o); },
                                {"needs more than 10 images, got 10"});
}

}  // namespace
}  // namespace dcacn
