#include "dcacn/train/stop_policy.h"

#include <c10/util/StringUtil.h>

namespace dcacn {

StopPolicy::Reason StopPolicy::budget_reached(const StageBudget& b, int64_t steps, double seconds) {
  if (b.steps() > 0 && steps >= b.steps()) return Reason::kStepBudget;
  if (b.limit_minutes() > 0 && seconds >= b.limit_minutes() * 60.0) return Reason::kTimeBudget;
  return Reason::kNone;
}

StopPolicy::Reason StopPolicy::check(const StageBudget& budget, int64_t steps_in_stage,
                                     double seconds_in_stage, int64_t step) const {
  const Reason reason = budget_reached(budget, steps_in_stage, seconds_in_stage);
  if (reason != Reason::kNone) return reason;
  if (interrupted(step)) return Reason::kInterrupted;
  return Reason::kNone;
}

std::string StopPolicy::budget_name(const StageBudget& b, Reason reason) {
  if (reason == Reason::kStepBudget) return c10::str("step budget of ", b.steps(), " steps");
  if (reason == Reason::kTimeBudget) return c10::str("time budget of ", b.limit_minutes(), " min");
  if (reason == Reason::kRunBudget) {
    return c10::str("run's time budget of ", b.run_minutes(),
                    " min (less what the stages after it need)");
  }
  return "no budget";
}

std::string StopPolicy::describe(const StageBudget& b, Reason reason) {
  if (reason == Reason::kInterrupted) return "interrupted";
  if (reason == Reason::kNone) return "running";
  return budget_name(b, reason) + " reached";
}

}  // namespace dcacn
