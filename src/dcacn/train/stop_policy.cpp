#include "dcacn/train/stop_policy.h"

#include <c10/util/StringUtil.h>

#include <algorithm>
#include <csignal>

namespace dcacn {
namespace {

std::atomic<bool> g_signalled{false};
extern "C" void on_stop_signal(int) { g_signalled = true; }

}  // namespace

StopPolicy::StopPolicy(const TrainConfig& c)
    : budget_seconds_(c.time_budget_minutes * 60.0),
      max_steps_(c.max_steps),
      selflabel_seconds_(c.selflabel_minutes * 60.0),
      selflabel_steps_(c.selflabel_steps) {}

void StopPolicy::begin_selflabel_stage(int64_t step, double elapsed) {
  stage_start_step_ = step;
  stage_start_seconds_ = elapsed;
}

StopPolicy::Reason StopPolicy::budget_reached(int64_t step, double elapsed) const {
  if (in_selflabel_stage()) {
    if (selflabel_steps_ > 0 && step - stage_start_step_ >= selflabel_steps_) {
      return Reason::kStepBudget;
    }
    if (selflabel_seconds_ > 0 && elapsed - stage_start_seconds_ >= selflabel_seconds_) {
      return Reason::kTimeBudget;
    }
    return Reason::kNone;
  }
  if (max_steps_ > 0 && step >= max_steps_) return Reason::kStepBudget;
  if (budget_seconds_ > 0 && elapsed >= budget_seconds_) return Reason::kTimeBudget;
  return Reason::kNone;
}

bool StopPolicy::interrupted() const { return requested_ || StopSignals::raised(); }

StopPolicy::Reason StopPolicy::check(int64_t step, double elapsed) const {
  const Reason budget = budget_reached(step, elapsed);
  if (budget != Reason::kNone) return budget;
  if (requested_ || StopSignals::raised() || (step_limit_ >= 0 && step >= step_limit_)) {
    return Reason::kInterrupted;
  }
  return Reason::kNone;
}

double StopPolicy::eta_seconds(int64_t steps_left_in_epochs, int64_t step, double seconds_per_step,
                               double elapsed) const {
  // Self-labelling: its own budgets (the epochs do not bound it).
  auto selflabel_left = [&](int64_t steps_done, double seconds_done) {
    double left = 1e300;
    if (selflabel_steps_ > 0) left = (selflabel_steps_ - steps_done) * seconds_per_step;
    if (selflabel_seconds_ > 0) left = std::min(left, selflabel_seconds_ - seconds_done);
    return std::max(0.0, left);
  };
  if (in_selflabel_stage()) {
    return selflabel_left(step - stage_start_step_, elapsed - stage_start_seconds_);
  }
  double steps_left = static_cast<double>(steps_left_in_epochs);
  if (max_steps_ > 0) steps_left = std::min<double>(steps_left, max_steps_ - step);
  double eta = std::max(0.0, steps_left) * seconds_per_step;
  if (budget_seconds_ > 0) eta = std::min(eta, std::max(0.0, budget_seconds_ - elapsed));
  if (has_selflabel_stage()) eta += selflabel_left(0, 0);
  return eta;
}

std::string StopPolicy::budget_name(Reason reason) const {
  const bool second = in_selflabel_stage();
  const std::string stage = second ? "self-labelling " : "";
  if (reason == Reason::kStepBudget) {
    return c10::str(stage, "step budget of ", second ? selflabel_steps_ : max_steps_, " steps");
  }
  if (reason == Reason::kTimeBudget) {
    return c10::str(stage, "time budget of ",
                    (second ? selflabel_seconds_ : budget_seconds_) / 60.0, " min");
  }
  return "no budget";
}

std::string StopPolicy::describe(Reason reason) const {
  if (reason == Reason::kInterrupted) return "interrupted";
  if (reason == Reason::kNone) return "running";
  return budget_name(reason) + " reached";
}

StopSignals::StopSignals() {
  g_signalled = false;
  previous_int_ = std::signal(SIGINT, on_stop_signal);
  previous_term_ = std::signal(SIGTERM, on_stop_signal);
}

StopSignals::~StopSignals() {
  std::signal(SIGINT, previous_int_);
  std::signal(SIGTERM, previous_term_);
}

bool StopSignals::raised() { return g_signalled; }

}  // namespace dcacn
