#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "dcacn/metrics/hungarian.h"

namespace dcacn {
namespace {

// Brute force over all injective maps from the smaller side: the independent reference.
double brute_force_min(const std::vector<double>& cost, int rows, int cols) {
  const bool by_rows = rows <= cols;
  const int small = std::min(rows, cols), large = std::max(rows, cols);
  std::vector<int> perm(large);
  std::iota(perm.begin(), perm.end(), 0);
  double best = 1e300;
  do {
    double total = 0;
    for (int i = 0; i < small; ++i) {
      total += by_rows ? cost[i * cols + perm[i]] : cost[perm[i] * cols + i];
    }
    best = std::min(best, total);
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

double total_of(const std::vector<double>& cost, int cols, const std::vector<int64_t>& match) {
  double total = 0;
  for (size_t r = 0; r < match.size(); ++r) {
    if (match[r] >= 0) total += cost[r * cols + match[r]];
  }
  return total;
}

TEST(Hungarian, HandWorkedSquareExample) {
  // Rows 0..2; the optimum is 0->1, 1->0, 2->2 with cost 2 + 3 + 2 = 7.
  const std::vector<double> cost = {4, 2, 8, 3, 7, 9, 6, 5, 2};
  EXPECT_EQ(solve_assignment(cost, 3, 3), (std::vector<int64_t>{1, 0, 2}));
}

TEST(Hungarian, MatchesBruteForceOnRandomRectangularMatrices) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> value(0, 20);
  for (int trial = 0; trial < 200; ++trial) {
    const int rows = 1 + trial % 6, cols = 1 + (trial / 6) % 7;
    std::vector<double> cost(rows * cols);
    for (double& c : cost) c = value(rng);
    const auto match = solve_assignment(cost, rows, cols);
    ASSERT_EQ(static_cast<int>(match.size()), rows);
    // Distinct columns; exactly min(rows, cols) rows matched.
    std::vector<int64_t> used;
    for (auto m : match) {
      if (m >= 0) used.push_back(m);
    }
    std::sort(used.begin(), used.end());
    EXPECT_EQ(std::unique(used.begin(), used.end()), used.end());
    EXPECT_EQ(static_cast<int>(used.size()), std::min(rows, cols));
    EXPECT_DOUBLE_EQ(total_of(cost, cols, match), brute_force_min(cost, rows, cols))
        << rows << "x" << cols << " trial " << trial;
  }
}

TEST(Hungarian, MaximiseAndEmpty) {
  EXPECT_EQ(solve_assignment_max({1, 5, 4, 2}, 2, 2), (std::vector<int64_t>{1, 0}));
  EXPECT_TRUE(solve_assignment({}, 0, 3).empty());
  EXPECT_EQ(solve_assignment({}, 2, 0), (std::vector<int64_t>{-1, -1}));
}

}  // namespace
}  // namespace dcacn
