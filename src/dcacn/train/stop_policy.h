#pragma once
// When a stage of a run stops: its budget (time, steps; train/stage.h), and interruptions (a
// request from the program, or from the command's signal handlers through stop_flag()).
//
// A stage's time budget counts the run's wall time from the stage's start: training steps and
// the periodic evaluations and checkpoints, summed over resumed sessions. Start-up (reading the
// data, building the network) and the final evaluation are not counted.

#include <atomic>
#include <cstdint>
#include <string>

#include "dcacn/train/stage.h"

namespace dcacn {

class StopPolicy {
 public:
  /// kRunBudget: the run's time budget (--time-budget with --stages) less what the stages after
  /// the current one are expected to need (train/session.h).
  enum class Reason { kNone, kTimeBudget, kStepBudget, kRunBudget, kInterrupted };

  /// Why the stage must stop before its step `steps_in_stage` + 1 (the run's `step` + 1) at
  /// `seconds_in_stage`: its budget first, then an interruption.
  Reason check(const StageBudget& budget, int64_t steps_in_stage, double seconds_in_stage,
               int64_t step) const;
  /// The budget part of check (interruptions aside).
  static Reason budget_reached(const StageBudget& budget, int64_t steps_in_stage,
                               double seconds_in_stage);

  /// Stops after the current step, saving a checkpoint (what Ctrl-C and SIGTERM do).
  void request_stop() { requested_ = true; }
  /// The flag request_stop() sets, for a signal handler to set.
  std::atomic<bool>& stop_flag() { return requested_; }
  /// Whether a stop was requested, or the step limit is reached at `step`; budgets aside.
  bool interrupted(int64_t step) const {
    return requested_ || (step_limit_ >= 0 && step >= step_limit_);
  }
  /// Stops, as if interrupted, once this many optimisation steps have been taken in total.
  void set_step_limit(int64_t steps) { step_limit_ = steps; }
  /// Seconds of a run budget kept for what the caller does after the run (`cluster`'s report):
  /// the stages stop that much earlier.
  void keep_after_run(double seconds) { after_run_seconds_ = seconds; }
  double after_run_seconds() const { return after_run_seconds_; }

  /// "time budget of 30 min reached" (budgets), "interrupted", for logs.
  static std::string describe(const StageBudget& budget, Reason reason);
  /// "time budget of 30 min" (budgets only).
  static std::string budget_name(const StageBudget& budget, Reason reason);

 private:
  int64_t step_limit_ = -1;
  double after_run_seconds_ = 0;
  std::atomic<bool> requested_{false};
};

}  // namespace dcacn
