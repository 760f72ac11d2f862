#include "dcacn/train/schedule.h"

#include <algorithm>
#include <cmath>

#include "dcacn/util/error.h"

namespace dcacn {

LrSchedule parse_lr_schedule(const std::string& text, const std::string& option) {
  if (text == "constant") return LrSchedule::kConstant;
  if (text == "cosine") return LrSchedule::kCosine;
  throw InputError(option + " must be constant or cosine, got " + text);
}

std::string lr_schedule_name(LrSchedule schedule) {
  return schedule == LrSchedule::kCosine ? "cosine" : "constant";
}

double budget_fraction(const StageBudget& budget, int64_t steps, int64_t steps_per_epoch,
                       double seconds) {
  DCACN_CHECK(steps_per_epoch >= 1, "an epoch must have at least one step, got ", steps_per_epoch);
  double f = 0;
  if (budget.epochs() > 0) {
    f = static_cast<double>(steps) / static_cast<double>(budget.epochs() * steps_per_epoch);
  }
  if (budget.steps() > 0) f = std::max(f, static_cast<double>(steps) / budget.steps());
  if (budget.limit_minutes() > 0) f = std::max(f, seconds / (60.0 * budget.limit_minutes()));
  return std::clamp(f, 0.0, 1.0);
}

double scheduled_lr(double lr, LrSchedule schedule, double fraction) {
  if (schedule == LrSchedule::kConstant) return lr;
  const double pi = std::acos(-1.0);
  return lr * 0.5 * (1.0 + std::cos(pi * std::clamp(fraction, 0.0, 1.0)));
}

}  // namespace dcacn
