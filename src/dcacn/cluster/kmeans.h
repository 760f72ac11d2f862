#pragma once
// K-means with k-means++ seeding (scikit-learn's greedy variant) and Lloyd iterations.
//
// Same algorithm and defaults as sklearn.cluster.KMeans (lloyd), written with batched tensor
// operations: distances are matrix products, the k-means++ seeding of all restarts runs
// together, and Lloyd skips points whose assignment provably cannot change (Elkan's bounds:
// an upper bound on the distance to the own centre and a lower bound on the distance to each
// other centre, [N, K] floats, plus Hamerly's half-gap test between centres). The bounds only avoid
// work: the assignments are those of plain Lloyd up to float32 rounding of the distances. Centre
// sums are kept in float64 and updated with the points that moved, so an iteration costs O(moved +
// candidates) instead of O(N).

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace dcacn {

struct KMeansOptions {
  /// Number of clusters.
  int64_t k = 10;
  /// Independent restarts with different seeds; the one with the lowest inertia wins.
  int64_t n_init = 10;
  /// Lloyd iterations per restart at most.
  int64_t max_iter = 300;
  /// Convergence when the summed squared centre shift is at most tol times the mean
  /// per-feature variance of the data (scikit-learn's relative tolerance).
  double tol = 1e-4;
  /// Seed of all randomness (k-means++ draws).
  uint64_t seed = 0;
};

struct KMeansRun {
  double inertia = 0.0;
  int64_t iterations = 0;
  /// Rows whose distances were computed, summed over iterations, in units of N (a plain
  /// Lloyd iteration counts 1).
  double distance_passes = 0.0;
  bool converged = false;
  /// Wall time of the Lloyd iterations of this restart.
  double seconds = 0.0;
};

struct KMeansResult {
  /// [K, D] float32, the best restart's centres.
  torch::Tensor centers;
  /// [N] int64 in [0, K).
  torch::Tensor labels;
  /// Sum of squared distances of the samples to their centres (best restart).
  double inertia = 0.0;
  int64_t best_run = 0;
  std::vector<KMeansRun> runs;
  /// Wall time of the k-means++ seeding of all restarts.
  double seeding_seconds = 0.0;
};

/// Called after each restart with (restart index, its summary); for progress output.
using KMeansProgress = std::function<void(int64_t, const KMeansRun&)>;

/// Clusters the rows of `x` ([N, D] float32 on any device).
KMeansResult kmeans(const torch::Tensor& x, const KMeansOptions& options,
                    const KMeansProgress& progress = nullptr);

/// k-means++ seeding of `runs` restarts at once: [runs, K, D] centres chosen among the rows
/// of `x`. `x_sq` is the [N] squared row norms.
torch::Tensor kmeans_plus_plus(const torch::Tensor& x, const torch::Tensor& x_sq, int64_t k,
                               int64_t runs, at::Generator& generator);

/// Index of the nearest centre for each row of `x` ([N, D]) given centres [K, D].
torch::Tensor nearest_center(const torch::Tensor& x, const torch::Tensor& centers);

}  // namespace dcacn
