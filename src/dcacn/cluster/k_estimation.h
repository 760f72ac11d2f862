#pragma once
// The number of clusters, estimated without labels by clustering stability (Ben-Hur, Elisseeff
// and Guyon 2002; Lange et al. 2004): for each K of a range, k-means is fitted on pairs of
// independent random subsamples, both fits assign a common evaluation sample, and the agreement
// of the two assignments (adjusted Rand index) is averaged over the pairs. A K that matches the
// data's groups is found again from any subsample; a K that splits a group (or merges two)
// cuts it in a different place each time. The most stable K is chosen.
//
// Why stability (bench/results/k_estimation.md): on Fashion-MNIST and subsets of its classes,
// the eigengap of the k-NN graph and the modularity of k-means partitions both kept growing
// with K (they find the many small modes of each class), and prediction strength chose 2-4
// clusters everywhere, in pixels as in learned features; stability in learned features peaked
// at or next to the number of classes.

#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dcacn {

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
  std::vector<int64_t> ks;
  /// Mean adjusted Rand index of each K's pairs of fits, and its standard deviation.
  std::vector<double> stability, spread;
  int64_t chosen = 0;
  double seconds = 0;

  /// "k,stability,spread,chosen" rows, the criterion of every K.
  std::string csv() const;
  /// One line: the chosen K, its stability and the runners-up.
  std::string summary() const;
};

/// Estimates K for the rows of `x` ([N, D] float, any device; rows are L2-normalised first, as
/// the network's features are compared by cosine). Needs N > max_k; InputError otherwise.
KEstimate estimate_clusters(const torch::Tensor& x, const KEstimationOptions& options);

}  // namespace dcacn
