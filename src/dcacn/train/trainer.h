#pragma once
// `dcacn train`: DCACN training with evaluation, metrics, checkpoints and exact resume.
//
// RUN_DIR/config.json     the whole configuration
// RUN_DIR/metrics.csv     one row per evaluation (epoch, step, time, losses, images/s,
//                         ACC/NMI/ARI when labels exist, cluster-size diagnostics)
// RUN_DIR/checkpoints/    last.pt, best.pt (best ACC) and epoch_NNNN.pt

#include <atomic>
#include <string>
#include <vector>

#include "dcacn/data/dataset.h"
#include "dcacn/metrics/metrics.h"
#include "dcacn/model/dcacn_model.h"
#include "dcacn/train/config.h"

namespace dcacn {

/// What an evaluation of the cluster head on the un-augmented data found.
struct EvalResult {
  bool has_labels = false;
  ClusteringScores scores;           ///< when labels exist
  std::vector<int64_t> cluster_sizes;
  int64_t empty_clusters = 0;
  double largest_cluster_fraction = 0;
  double size_entropy = 0;           ///< entropy of the cluster sizes / log K, in [0, 1]
  torch::Tensor predictions;         ///< [N] int64, CPU
  torch::Tensor features;            ///< [N, D] float, CPU (when asked for)
};

/// argmax of the cluster head over `data` (eval transform at `image_size`), in batches.
EvalResult evaluate(DCACNImpl& model, const Dataset& data, int64_t image_size,
                    int64_t batch_size, bool bf16, bool channels_last, bool keep_features);

struct TrainResult {
  enum class Status { kFinished, kBudgetReached, kInterrupted };
  Status status = Status::kFinished;
  int64_t epoch = 0;  ///< epoch in progress when stopped (== epochs when finished)
  int64_t step = 0;
  double train_seconds = 0;
  EvalResult last_eval;
};

class Trainer {
 public:
  /// A new run (`resume` false: RUN_DIR must not hold a run yet) or the continuation of the
  /// run in RUN_DIR from checkpoints/last.pt (`config` then only supplies epochs,
  /// time_budget_minutes and device; everything else comes from the checkpoint).
  Trainer(const TrainConfig& config, const std::string& run_dir, bool resume);

  TrainResult run();

  /// Stops after the current step, saving a checkpoint (what Ctrl-C and SIGTERM do).
  void request_stop() { stop_ = true; }
  /// Stops, as if interrupted, once this many optimisation steps have been taken in total.
  void set_step_limit(int64_t steps) { step_limit_ = steps; }

  const TrainConfig& config() const { return config_; }
  std::string checkpoint_path(const std::string& name) const;

 private:
  TrainConfig config_;
  std::string run_dir_;
  bool resume_;
  std::atomic<bool> stop_{false};
  int64_t step_limit_ = -1;
};

}  // namespace dcacn
