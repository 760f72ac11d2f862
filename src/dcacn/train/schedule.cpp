#include "dcacn/train/schedule.h"

#include <algorithm>
#include <cmath>

#include "dcacn/util/error.h"

namespace dcacn {

double budget_fraction(const TrainConfig& config, int64_t step, int64_t steps_per_epoch,
                       double elapsed_seconds) {
  DCACN_CHECK(steps_per_epoch >= 1, "an epoch must have at least one step, got ", steps_per_epoch);
  double f = static_cast<double>(step) / static_cast<double>(config.epochs * steps_per_epoch);
  if (config.max_steps > 0) f = std::max(f, static_cast<double>(step) / config.max_steps);
  if (config.time_budget_minutes > 0) {
    f = std::max(f, elapsed_seconds / (60.0 * config.time_budget_minutes));
  }
  return std::clamp(f, 0.0, 1.0);
}

double scheduled_lr(const TrainConfig& config, double fraction) {
  if (config.lr_schedule == "constant") return config.lr;
  DCACN_CHECK(config.lr_schedule == "cosine", "--lr-schedule must be constant or cosine, got ",
              config.lr_schedule);
  const double pi = std::acos(-1.0);
  return config.lr * 0.5 * (1.0 + std::cos(pi * std::clamp(fraction, 0.0, 1.0)));
}

}  // namespace dcacn
