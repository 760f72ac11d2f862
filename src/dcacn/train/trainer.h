#pragma once
// `dcacn train`: DCACN training with evaluation, metrics, checkpoints and exact resume.
//
// RUN_DIR/config.json     the whole configuration
// RUN_DIR/metrics.csv     one row per evaluation (see metrics_log.h)
// RUN_DIR/final.json      the last evaluation's scores and k-means on the features
// RUN_DIR/checkpoints/    last.pt, best.pt and, when asked for, epoch_NNNN.pt
//
// The trainer only wires the pieces together: the run's set-up (run/setup.h), one
// optimisation step (train_step.h), evaluation (evaluation.h), the metrics log, the
// checkpoint writer and the stop policy.

#include <memory>
#include <string>

#include "dcacn/dist/communicator.h"
#include "dcacn/run/checkpoint.h"
#include "dcacn/run/config.h"
#include "dcacn/train/evaluation.h"
#include "dcacn/train/stop_policy.h"

namespace dcacn {

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
  /// A new run in `run_dir`, which must not hold one yet.
  Trainer(const TrainConfig& config, const std::string& run_dir);
  /// The run in `run_dir`, continued from checkpoints/last.pt with its own configuration
  /// (epochs, budgets, device and all) and `overrides`. Throws InputError when the run has
  /// already reached its budget.
  Trainer(const std::string& run_dir, const ResumeOverrides& overrides);
  ~Trainer();

  TrainResult run();

  /// Stops after the current step, saving a checkpoint (what Ctrl-C and SIGTERM do).
  void request_stop() { stop_->request_stop(); }
  /// Stops, as if interrupted, once this many optimisation steps have been taken in total.
  void set_step_limit(int64_t steps) { stop_->set_step_limit(steps); }
  /// Trains as one rank of a data-parallel run. The default is the environment's (torchrun's
  /// variables, see dist_env_from_environment): one process when none are set. Each rank
  /// trains on its shard of every global batch (--batch-size is the global batch); rank 0
  /// writes the run directory, and every rank must be able to read it to resume.
  void set_distributed(const DistEnv& env, const CommunicatorOptions& options = {});

  const TrainConfig& config() const { return config_; }
  std::string checkpoint_path(const std::string& name) const;

 private:
  TrainConfig config_;
  std::string run_dir_;
  std::unique_ptr<Checkpoint> restored_;  ///< resuming: the checkpoint to continue from
  std::unique_ptr<StopPolicy> stop_;
  DistEnv dist_;
  CommunicatorOptions comm_options_;
};

}  // namespace dcacn
