#include "dcacn/metrics/neighbour_purity.h"

#include <c10/util/Exception.h>

namespace dcacn {

double neighbour_purity(const torch::Tensor& neighbours, const torch::Tensor& labels) {
  TORCH_CHECK(neighbours.dim() == 2 && labels.dim() == 1 && neighbours.size(0) == labels.size(0),
              "neighbour_purity: expected [N, k] neighbours and [N] labels, got ",
              neighbours.sizes(), " and ", labels.sizes());
  const torch::Tensor l = labels.to(neighbours.device(), torch::kInt64);
  const torch::Tensor same = l.index({neighbours}).eq(l.unsqueeze(1));
  return same.to(torch::kFloat64).mean().item<double>();
}

}  // namespace dcacn
