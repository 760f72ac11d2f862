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
    : budget_seconds_(c.time_budget_minutes * 60.0), max_steps_(c.max_steps) {}

StopPolicy::Reason StopPolicy::budget_reached(int64_t step, double elapsed) const {
  if (max_steps_ > 0 && step >= max_steps_) return Reason::kStepBudget;
  if (budget_seconds_ > 0 && elapsed >= budget_seconds_) return Reason::kTimeBudget;
  return Reason::kNone;
}

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
  double steps_left = static_cast<double>(steps_left_in_epochs);
  if (max_steps_ > 0) steps_left = std::min<double>(steps_left, max_steps_ - step);
  double eta = std::max(0.0, steps_left) * seconds_per_step;
  if (budget_seconds_ > 0) eta = std::min(eta, std::max(0.0, budget_seconds_ - elapsed));
  return eta;
}

std::string StopPolicy::budget_name(Reason reason) const {
  if (reason == Reason::kStepBudget) return c10::str("step budget of ", max_steps_, " steps");
  if (reason == Reason::kTimeBudget) {
    return c10::str("time budget of ", budget_seconds_ / 60.0, " min");
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
