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
  /// The same on the Gaussian reference, and stability - reference (the criterion).
  std::vector<double> reference, criterion;
  int64_t chosen = 0;
  double seconds = 0;

  /// "k,stability,spread,reference,criterion,chosen" rows, one per K.
  std::string csv() const;
  /// One line: the chosen K, its criterion and the runners-up.
  std::string summary() const;
};

/// Estimates K for the rows of `x` ([N, D] float, any device; rows are L2-normalised first, as
/// the network's features are compared by cosine). Needs N > max_k; InputError otherwise.
KEstimate estimate_clusters(const torch::Tensor& x, const KEstimationOptions& options);

}  // namespace dcacn
