#pragma once
// `dcacn train`: DCACN training as a pipeline of stages (train/pipeline.h), with evaluation,
// metrics, checkpoints and exact resume.
//
// RUN_DIR/config.json     the whole configuration
// RUN_DIR/metrics.csv     one row per evaluation (see metrics_log.h)
// RUN_DIR/final.json      the last evaluation's scores and k-means on the features
// RUN_DIR/checkpoints/    last.pt and, when asked for, epoch_NNNN.pt
//
// The trainer checks what a run may do (a new run's folder, a resume's changes) and hands the
// run to a TrainingSession (train/session.h), which runs the stages.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "dcacn/dist/communicator.h"
#include "dcacn/run/checkpoint.h"
#include "dcacn/run/config.h"
#include "dcacn/train/session.h"
#include "dcacn/train/stop_policy.h"

namespace dcacn {

class Trainer {
 public:
  /// A new run in `run_dir`, which must not hold one yet. `dist`: this process's place in a
  /// data-parallel run (default: a single process); rank 0 owns the run directory.
  Trainer(const TrainConfig& config, const std::string& run_dir, const DistEnv& dist = {});
  /// The run in `run_dir`, continued from checkpoints/last.pt with its own configuration
  /// (budgets, device and all) and `overrides`. Throws InputError when the run has nothing left
  /// to do, or when the overrides change a stage that has begun.
  Trainer(const std::string& run_dir, const ResumeOverrides& overrides, const DistEnv& dist = {});
  ~Trainer();

  TrainResult run();

  /// Stops after the current step, saving a checkpoint (what Ctrl-C and SIGTERM do).
  void request_stop() { stop_->request_stop(); }
  /// The flag request_stop() sets, for the command's signal handlers.
  std::atomic<bool>& stop_flag() { return stop_->stop_flag(); }
  /// Stops, as if interrupted, once this many optimisation steps have been taken in total.
  void set_step_limit(int64_t steps) { stop_->set_step_limit(steps); }
  /// A run budget (--time-budget with stages) keeps this many seconds for the caller's work after
  /// run() returns: the stages end that much earlier.
  void keep_after_run(double seconds) { stop_->keep_after_run(seconds); }
  /// Trains as one rank of a data-parallel run. Each rank trains on its shard of every global
  /// batch (--batch-size is the global batch); rank 0 writes the run directory, and every rank
  /// must be able to read it to resume.
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
  /// The session's clock counts from here: the checks, --precision auto's timing and the data's
  /// loading are inside the run's time budget.
  std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();
};

}  // namespace dcacn
