#include "dcacn/metrics/hungarian.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <limits>

namespace dcacn {
namespace {

// Rows <= cols. Shortest augmenting paths with dual potentials u (rows) and v (cols); index 0
// is a virtual column that starts every augmentation.
std::vector<int64_t> solve_tall_cols(const std::vector<double>& a, int64_t n, int64_t m) {
  const double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0.0), v(m + 1, 0.0);
  std::vector<int64_t> match(m + 1, 0), way(m + 1, 0);  // match[j]: row (1-based) of column j
  for (int64_t i = 1; i <= n; ++i) {
    match[0] = i;
    int64_t j0 = 0;
    std::vector<double> min_slack(m + 1, kInf);
    std::vector<char> used(m + 1, 0);
    do {
      used[j0] = 1;
      const int64_t i0 = match[j0];
      double delta = kInf;
      int64_t j1 = 0;
      for (int64_t j = 1; j <= m; ++j) {
        if (used[j]) continue;
        const double slack = a[(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
        if (slack < min_slack[j]) {
          min_slack[j] = slack;
          way[j] = j0;
        }
        if (min_slack[j] < delta) {
          delta = min_slack[j];
          j1 = j;
        }
      }
      for (int64_t j = 0; j <= m; ++j) {
        if (used[j]) {
          u[match[j]] += delta;
          v[j] -= delta;
        } else {
          min_slack[j] -= delta;
        }
      }
      j0 = j1;
    } while (match[j0] != 0);
    do {
      const int64_t j1 = way[j0];
      match[j0] = match[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int64_t> row_to_col(n, -1);
  for (int64_t j = 1; j <= m; ++j) {
    if (match[j] != 0) row_to_col[match[j] - 1] = j - 1;
  }
  return row_to_col;
}

}  // namespace

std::vector<int64_t> solve_assignment(const std::vector<double>& cost, int64_t rows, int64_t cols) {
  TORCH_CHECK(rows >= 0 && cols >= 0 && static_cast<int64_t>(cost.size()) == rows * cols,
              "solve_assignment: cost has ", cost.size(), " entries, expected ", rows, "x", cols);
  for (double c : cost) TORCH_CHECK(std::isfinite(c), "solve_assignment: non-finite cost ", c);
  if (rows == 0 || cols == 0) return std::vector<int64_t>(rows, -1);
  if (rows <= cols) return solve_tall_cols(cost, rows, cols);
  std::vector<double> transposed(cost.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) transposed[c * rows + r] = cost[r * cols + c];
  }
  const std::vector<int64_t> col_to_row = solve_tall_cols(transposed, cols, rows);
  std::vector<int64_t> row_to_col(rows, -1);
  for (int64_t c = 0; c < cols; ++c) row_to_col[col_to_row[c]] = c;
  return row_to_col;
}

std::vector<int64_t> solve_assignment_max(const std::vector<double>& weight, int64_t rows,
                                          int64_t cols) {
  std::vector<double> cost(weight.size());
  for (size_t i = 0; i < weight.size(); ++i) cost[i] = -weight[i];
  return solve_assignment(cost, rows, cols);
}

}  // namespace dcacn
