#include "../test_util.h"
#include "dcacn/metrics/neighbour_purity.h"

namespace dcacn {
namespace {

TEST(NeighbourPurity, CountsNeighboursOfTheSameLabel) {
  const torch::Tensor nb = torch::tensor({{1, 2}, {0, 3}, {0, 1}, {2, 1}}, torch::kInt64);
  const torch::Tensor labels = torch::tensor({0, 0, 1, 1}, torch::kInt64);
  // Row 0: 1 of 2; row 1: 1 of 2; row 2: 0 of 2; row 3: 1 of 2.
  EXPECT_DOUBLE_EQ(neighbour_purity(nb, labels), 3.0 / 8.0);
}

}  // namespace
}  // namespace dcacn
