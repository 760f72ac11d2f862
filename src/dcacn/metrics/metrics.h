#pragma once
// Clustering metrics (docs/design.md section 6): exact functions of two label vectors that match
// scikit-learn 1.2 (NMI with arithmetic normalisation, ARI) and ACC under the best one-to-one
// matching of clusters to classes (scipy's linear_sum_assignment on the contingency table).
// Label values may be any integers; they need not start at 0 or be contiguous.

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace dcacn {

struct Contingency {
  /// Sorted distinct values of the true labels (rows) and of the cluster ids (columns).
  std::vector<int64_t> classes;
  std::vector<int64_t> clusters;
  /// [classes.size() x clusters.size()] counts, row-major.
  std::vector<int64_t> counts;
  int64_t total = 0;

  int64_t rows() const { return static_cast<int64_t>(classes.size()); }
  int64_t cols() const { return static_cast<int64_t>(clusters.size()); }
  int64_t at(int64_t r, int64_t c) const { return counts[r * cols() + c]; }
};

Contingency contingency_table(const std::vector<int64_t>& labels_true,
                              const std::vector<int64_t>& labels_pred);

/// For each cluster column of `table`, the class row it is matched to by the maximum-weight
/// one-to-one assignment, or -1 when it stays unmatched (#clusters > #classes).
std::vector<int64_t> match_clusters_to_classes(const Contingency& table);

/// Fraction of samples whose cluster is matched to their class (unmatched clusters: wrong).
double clustering_accuracy(const std::vector<int64_t>& labels_true,
                           const std::vector<int64_t>& labels_pred);
/// 2 I(y; c) / (H(y) + H(c)); 1 when both labelings are a single group.
double normalized_mutual_info(const std::vector<int64_t>& labels_true,
                              const std::vector<int64_t>& labels_pred);
/// Hubert-Arabie adjusted Rand index.
double adjusted_rand_index(const std::vector<int64_t>& labels_true,
                           const std::vector<int64_t>& labels_pred);

struct ClusteringScores {
  double acc = 0.0;
  double nmi = 0.0;
  double ari = 0.0;
  int64_t samples = 0;
  int64_t classes = 0;
  int64_t clusters = 0;
};

/// All three from one contingency table.
ClusteringScores score_clustering(const std::vector<int64_t>& labels_true,
                                  const std::vector<int64_t>& labels_pred);
/// Tensor front end: two [N] integer tensors on any device.
ClusteringScores score_clustering(const torch::Tensor& labels_true,
                                  const torch::Tensor& labels_pred);

/// "ACC 0.4731  NMI 0.5120  ARI 0.3482" for logs and the terminal.
std::string format_scores(const ClusteringScores& scores);

}  // namespace dcacn
