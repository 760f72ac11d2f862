#pragma once
// The number of clusters, estimated without labels by how reproducibly the neighbour stage's
// heads (train/neighbour_head.h) find clusters of each size. For each K of a range, sets of
// heads are trained from different initialisations on the features with a neighbour graph, and
// their clusterings' mutual agreement (mean adjusted Rand index of each head with the others) is
// averaged. A K that matches the groups the neighbours support is found by every head; a K that
// splits a group (or merges two) splits it differently in each head. Small K are reproducible
// on any data, so the same agreement is measured on a structureless reference (a Gaussian with
// the features' mean and covariance, its neighbours mined in itself) and subtracted. Past the
// true K the difference forms a plateau (a split group can be as reproducible as the group), so
// the K chosen is the smallest within one standard error of the largest difference (the rule of
// the gap statistic; cluster/k_estimation.h: one_standard_error_choice).
//
// Why this criterion (bench/results/k_estimation.md): on the features of 5-10 minute networks
// of Fashion-MNIST folders, the stability of k-means (cluster/k_estimation.h) was below its own
// noise: other random subsamples changed its K on 4 of 5 folders, and it was exact on 1. The
// heads' agreement less the reference's, screened in Python on 30-minute networks' features,
// was exact on 2-4 of the same 5 folders and within +/-1 on 4, the two seeds within +/-1 of each
// other; it missed the 5 upper-body garment classes, which those features split in two groups.
// On the per-folder networks `dcacn cluster` trains in 5 minutes it was no better than stability
// (exact on 1 of 5, within +/-1 on 2, as stability). After 10 minutes it was exact on 3 of 5
// (the 5 upper-body classes, all 70,000 images, the 10,000 test images; a second seed repeated
// the last two, not the first) where stability on the same networks' features was exact on none
// or one, so `dcacn cluster` uses it from 10 minutes of budget (run/folder_preset.h:
// kHeadsCriterionMinutes) and `train --k-range` on request (--k-criterion heads).

#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>

#include "dcacn/cluster/k_estimation.h"
#include "dcacn/train/neighbour_head.h"

namespace dcacn {

/// Rows of a run's images on which the stage estimates K (a random sample; its neighbour graph
/// is mined among them), at most: the rows the criterion was screened on. Fewer rows cost less
/// and chose worse: on the 10,000 test images of Fashion-MNIST (a 10-minute network) 3,333 rows
/// (batch 170) chose K = 5 and all 10,000 chose 10 (bench/results/k_estimation.md). On 2 cores
/// of an AMD EPYC, 10,000 rows and K 2-30 take 125-165 s.
constexpr int64_t kHeadsKSubsample = 10000;

struct HeadsKEstimationOptions {
  /// The range of K tried, both ends included.
  TORCH_ARG(int64_t, min_k) = 2;
  TORCH_ARG(int64_t, max_k) = 30;
  /// Sets of heads per K (each from its own seed); the agreement is averaged over all heads.
  TORCH_ARG(int64_t, draws) = 2;
  /// The heads of each set: 8 heads, 5 passes, no early stop. `seed` is ignored: each set's
  /// seed derives from `seed` below, K and the draw.
  TORCH_ARG(NeighbourHeadOptions, heads) = NeighbourHeadOptions().heads(8).epochs(5).patience(0);
  TORCH_ARG(uint64_t, seed) = 0;
};

/// Called after each K with (Ks done, Ks in all); may throw to stop.
using HeadsKProgress = std::function<void(int64_t, int64_t)>;

/// Estimates K for `features` ([M, D], any device) with their neighbour `graph` ([M, k] int64
/// row indices, mined among the same rows): KEstimate with method kHeads, `stability` the heads'
/// mean agreement, `reference` the Gaussian reference's, `spread` the criterion's standard error
/// (those of the two agreements combined; each the standard deviation of the heads' own mean
/// agreements over the square root of their number). Needs M > max_k and M > k; InputError
/// otherwise.
KEstimate estimate_clusters_by_heads(const torch::Tensor& features, const torch::Tensor& graph,
                                     const HeadsKEstimationOptions& options,
                                     const HeadsKProgress& progress = nullptr);

/// The seconds estimate_clusters_by_heads is expected to take on `m` rows of width `dim` with
/// `k` neighbours each on `device`: one set of heads timed at each end of the range
/// (neighbour_heads_seconds), its cost taken as linear in K between them, times the sets per K
/// (2 x draws: the data's and the reference's). The two neighbour searches among the rows
/// (the sample's and the reference's) are left out: about a second each for 10,000 rows,
/// against 2-3 minutes of heads.
double heads_k_estimation_seconds(const HeadsKEstimationOptions& options, int64_t m, int64_t dim,
                                  int64_t k, torch::Device device);

}  // namespace dcacn
