#pragma once
// The report's image montages: the most confident images of every cluster.

#include <torch/types.h>

#include <vector>

#include "dcacn/data/dataset.h"
#include "dcacn/report/figures.h"

namespace dcacn {

/// Indices of up to `per_cluster` images of each of the `k` clusters, most confident first.
/// `assigned` [N] int64 clusters, `confidence` [N] their probabilities.
std::vector<std::vector<int64_t>> most_confident(const torch::Tensor& assigned,
                                                 const torch::Tensor& confidence, int64_t k,
                                                 int64_t per_cluster);

/// montage.png (one row per cluster, in `order`) and cluster_J.png (one strip per cluster).
void write_montages(ReportWriter& w, const Dataset& data,
                    const std::vector<std::vector<int64_t>>& best,
                    const std::vector<int64_t>& order, int64_t per_cluster);

}  // namespace dcacn
