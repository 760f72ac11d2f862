#pragma once
// The number of clusters, estimated without labels by clustering stability against a
// structureless reference (Ben-Hur, Elisseeff and Guyon 2002; Lange et al. 2004; the reference
// as in Tibshirani's gap statistic). For each K of a range, k-means is fitted on pairs of
// independent random subsamples, both fits assign a common evaluation sample, and the agreement
// of the two assignments (adjusted Rand index) is averaged over the pairs. A K that matches the
// data's groups is found again from any subsample; a K that splits a group (or merges two) cuts
// it in a different place each time. Small K are stable on any data (two halves of a Gaussian
// are found again every time), so the same stability is measured on a Gaussian with the rows'
// mean and covariance, and the K whose stability exceeds the reference's most is chosen.
//
// Why this criterion (bench/results/k_estimation.md): on Fashion-MNIST and subsets of its
// classes, the eigengap of the k-NN graph and the modularity of k-means partitions kept growing
// with K (they find the many small modes of each class), prediction strength chose 2-4 clusters
// everywhere, and plain stability peaked at K = 2 (shoes against garments) with the true K
// second; stability above the reference's peaked at the true K on all five folders tried in
// trained features (10, 3, 5, 7 and the 10,000 test images).

#include <ATen/core/Generator.h>
#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dcacn {

/// How a run estimates K (--k-criterion). kHeads: the agreement of neighbour-stage heads
/// trained at each K, above a Gaussian reference's (train/heads_k_estimation.h); kStability:
/// the stability of k-means above the reference's (estimate_clusters below).
enum class KCriterion { kHeads, kStability };

/// "heads" or "stability"; InputError naming `option` and the value otherwise.
KCriterion parse_k_criterion(const std::string& text, const std::string& option);
std::string k_criterion_name(KCriterion criterion);

struct KEstimationOptions {
  /// The range of K tried, both ends included.
  TORCH_ARG(int64_t, min_k) = 2;
  TORCH_ARG(int64_t, max_k) = 30;
  /// Pairs of subsamples per K.
  TORCH_ARG(int64_t, pairs) = 5;
  /// Rows per subsample (at most all of them).
  TORCH_ARG(int64_t, subsample) = 3000;
  /// Rows of the evaluation sample that both fits assign (at most all of them).
  TORCH_ARG(int64_t, evaluation) = 10000;
  /// k-means restarts per fit.
  TORCH_ARG(int64_t, restarts) = 2;
  TORCH_ARG(uint64_t, seed) = 0;
};

struct KEstimate {
  KCriterion method = KCriterion::kStability;
  std::vector<int64_t> ks;
  /// kStability: the mean adjusted Rand index of each K's pairs of fits, and its standard
  /// deviation. kHeads: the heads' mean agreement (ARI), and the standard error of the criterion.
  std::vector<double> stability, spread;
  /// The same on the Gaussian reference, and stability - reference (the criterion).
  std::vector<double> reference, criterion;
  /// The K of the largest criterion; the K chosen (kStability: the same; kHeads: the smallest K
  /// within one standard error of the largest, one_standard_error_choice).
  int64_t best = 0, chosen = 0;
  double seconds = 0;

  /// Rows, one per K: "k,stability,spread,reference,criterion,chosen" (kStability) or
  /// "k,agreement,standard_error,reference,criterion,chosen" (kHeads).
  std::string csv() const;
  /// One line: the chosen K, its criterion and the runners-up.
  std::string summary() const;
};

/// The smallest K whose criterion is at least the largest one's less that K's standard error:
/// the rule of Tibshirani's gap statistic for a criterion that plateaus past the true K (a
/// cluster split in two is as reproducible as the cluster was). Equal sizes, at least one K.
int64_t one_standard_error_choice(const std::vector<int64_t>& ks,
                                  const std::vector<double>& criterion,
                                  const std::vector<double>& standard_error);

/// [N, D] float32 (CPU): as many rows as `rows` ([N, D], N >= 2) drawn from a Gaussian with
/// their mean and covariance (a structureless reference with the same scale and shape).
torch::Tensor gaussian_reference(const torch::Tensor& rows, at::Generator& generator);

/// Estimates K for the rows of `x` ([N, D] float, any device; rows are L2-normalised first, as
/// the network's features are compared by cosine). Needs N > max_k; InputError otherwise.
KEstimate estimate_clusters(const torch::Tensor& x, const KEstimationOptions& options);

}  // namespace dcacn
