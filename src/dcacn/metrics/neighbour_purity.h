#pragma once
// A label scorer for neighbours: how many of each image's mined neighbours share its class.
// For logs and benchmarks when the data has labels; no training stage uses it.

#include <torch/types.h>

namespace dcacn {

/// Share of each row's neighbours that carry the row's own label, over all rows ([N, k] and
/// [N]).
double neighbour_purity(const torch::Tensor& neighbours, const torch::Tensor& labels);

}  // namespace dcacn
