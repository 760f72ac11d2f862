#pragma once
// What a clustering looks like against the classes: sizes, purity, the confusion matrix after
// Hungarian matching, and majority-vote accuracy, which stays meaningful when there are more
// clusters than classes (over-clustering) while Hungarian ACC leaves the extra clusters wrong.

#include <torch/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dcacn/metrics/metrics.h"

namespace dcacn {

struct ClusterAnalysis {
  int64_t samples = 0;
  int64_t clusters = 0;        ///< K, including empty clusters
  std::vector<int64_t> sizes;  ///< [K]
  int64_t empty_clusters = 0;
  double size_entropy = 0;  ///< entropy of the sizes / log K, in [0, 1]

  bool has_labels = false;              ///< everything below needs labels
  int64_t classes = 0;                  ///< labels are 0 .. classes - 1
  ClusteringScores scores;              ///< Hungarian ACC, NMI, ARI
  double majority_accuracy = 0;         ///< each cluster predicts its most frequent class
  std::vector<int64_t> majority_class;  ///< [K], -1 for an empty cluster
  std::vector<double> purity;           ///< [K] share of the majority class (0 when empty)
  std::vector<int64_t> matched_class;   ///< [K] Hungarian match, -1 when unmatched
  std::vector<int64_t> counts;          ///< [classes x K] row-major: class, then cluster id
  /// Cluster ids in display order: matched clusters by their class, then the others.
  std::vector<int64_t> order;

  int64_t count(int64_t cls, int64_t cluster) const { return counts[cls * clusters + cluster]; }
  /// `class_names` may be empty (labels are printed as numbers).
  nlohmann::json to_json(const std::vector<std::string>& class_names) const;
  std::string to_text(const std::vector<std::string>& class_names) const;
};

/// `predictions` [N] cluster ids in [0, k); `labels` [N] class ids >= 0 or undefined.
ClusterAnalysis analyze_clusters(const torch::Tensor& predictions, int64_t k,
                                 const torch::Tensor& labels);

}  // namespace dcacn
