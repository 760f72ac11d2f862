#pragma once
// Exact linear assignment (Hungarian method with potentials, O(r^2 c)).

#include <cstdint>
#include <vector>

namespace dcacn {

/// Minimum-cost assignment on a rows x cols cost matrix (row-major). Every row is matched to a
/// distinct column when rows <= cols, every column to a distinct row otherwise. Returns, for
/// each row, its column or -1 when the row is left unmatched (only when rows > cols).
std::vector<int64_t> solve_assignment(const std::vector<double>& cost, int64_t rows, int64_t cols);

/// Same, maximising the total weight (e.g. a contingency table of counts).
std::vector<int64_t> solve_assignment_max(const std::vector<double>& weight, int64_t rows,
                                          int64_t cols);

}  // namespace dcacn
