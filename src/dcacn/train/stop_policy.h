#pragma once
// When a training run stops: its epochs, its time and step budgets, and interruptions
// (Ctrl-C, SIGTERM, or a request from the program).
//
// The time budget counts the run's wall time from the first step: training steps and the
// periodic evaluations and checkpoints, summed over resumed sessions. Start-up (reading the
// data, building the network) and the final evaluation after the budget ends are not counted.

#include <atomic>
#include <cstdint>
#include <string>

#include "dcacn/run/config.h"

namespace dcacn {

class StopPolicy {
 public:
  enum class Reason { kNone, kTimeBudget, kStepBudget, kInterrupted };

  explicit StopPolicy(const TrainConfig& config);

  /// Why the run (or its current stage) must stop before taking step `step` + 1 at
  /// `elapsed_seconds` of run time.
  Reason check(int64_t step, double elapsed_seconds) const;
  /// The budget part of check (interruptions aside), for the current stage.
  Reason budget_reached(int64_t step, double elapsed_seconds) const;

  /// Whether a self-labelling stage follows the contrastive one.
  bool has_selflabel_stage() const { return selflabel_seconds_ > 0 || selflabel_steps_ > 0; }
  /// From now on the budgets are the self-labelling stage's, counted from this step and time.
  void begin_selflabel_stage(int64_t step, double elapsed_seconds);
  bool in_selflabel_stage() const { return stage_start_step_ >= 0; }

  /// Stops after the current step, saving a checkpoint (what Ctrl-C and SIGTERM do).
  void request_stop() { requested_ = true; }
  /// Whether a stop was requested (request_stop, Ctrl-C or SIGTERM); budgets aside.
  bool interrupted() const;
  /// Stops, as if interrupted, once this many optimisation steps have been taken in total.
  void set_step_limit(int64_t steps) { step_limit_ = steps; }

  /// Estimated seconds to the end of the run: the steps left at `seconds_per_step`, capped by
  /// the time budget, plus the self-labelling stage's budget when it is still to come.
  double eta_seconds(int64_t steps_left_in_epochs, int64_t step, double seconds_per_step,
                     double elapsed_seconds) const;

  /// "time budget of 30 min reached" ("self-labelling time budget ..." in that stage), for logs.
  std::string describe(Reason reason) const;
  /// "time budget of 30 min" (budgets only).
  std::string budget_name(Reason reason) const;

 private:
  double budget_seconds_;
  int64_t max_steps_;
  double selflabel_seconds_;
  int64_t selflabel_steps_;
  int64_t stage_start_step_ = -1;  // >= 0 in the self-labelling stage
  double stage_start_seconds_ = 0;
  int64_t step_limit_ = -1;
  std::atomic<bool> requested_{false};
};

/// While alive, SIGINT and SIGTERM set a flag (StopSignals::raised) instead of killing the
/// process; the previous handlers come back when it ends.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  static bool raised();

 private:
  void (*previous_int_)(int);
  void (*previous_term_)(int);
};

}  // namespace dcacn
