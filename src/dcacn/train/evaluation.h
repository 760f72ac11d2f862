#pragma once
// Evaluating the cluster head during training, and the run's final report (final.json).

#include <torch/types.h>

#include <string>
#include <vector>

#include "dcacn/data/dataset.h"
#include "dcacn/metrics/metrics.h"
#include "dcacn/model/dcacn_model.h"

namespace dcacn {

/// What an evaluation of the cluster head on the un-augmented data found.
struct EvalResult {
  bool has_labels = false;
  ClusteringScores scores;  ///< when labels exist
  std::vector<int64_t> cluster_sizes;
  int64_t empty_clusters = 0;
  double largest_cluster_fraction = 0;
  double size_entropy = 0;      ///< entropy of the cluster sizes / log K, in [0, 1]
  torch::Tensor predictions;    ///< [N] int64, CPU
  torch::Tensor features;       ///< [N, D] float, CPU (when asked for)
  torch::Tensor probabilities;  ///< [N, K] float, CPU (with the features)

  /// True when the clusters look collapsed (one holds > 90% or over half are empty).
  bool collapsing(int64_t clusters) const;
  /// "ACC 0.6412 NMI ..., 0 empty clusters, largest 13.2%"
  std::string summary() const;
};

/// argmax of the cluster head over `data` (eval transform at `image_size`), in batches.
EvalResult evaluate(DCACNImpl& model, const Dataset& data, int64_t image_size, int64_t batch_size,
                    bool bf16, bool channels_last, bool keep_features);

/// The evaluation of given predictions [N] (and features [N, D], may be undefined) of a
/// `clusters`-way head against `labels` (may be undefined): what evaluate() does after the
/// network, for predictions gathered from the shards of a distributed evaluation.
EvalResult evaluate_predictions(const torch::Tensor& predictions, const torch::Tensor& features,
                                int64_t clusters, const torch::Tensor& labels);

/// What final.json records besides the evaluation.
struct FinalReportInfo {
  int64_t step = 0;
  double train_seconds = 0;
  double training_images_per_second = 0;
  int64_t clusters = 0;
  uint64_t seed = 0;
};

/// Writes `path` (final.json): the cluster head's scores and, as a second reading of the
/// learned representation, k-means on the backbone features (scikit-learn's protocol,
/// n_init 10). `eval` must hold features when `labels` are defined.
void write_final_report(const std::string& path, const EvalResult& eval,
                        const torch::Tensor& labels, const FinalReportInfo& info);

}  // namespace dcacn
