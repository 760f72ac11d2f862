#pragma once
// The learning rate over a stage. The paper trains at a constant rate (CC's Adam at 3e-4); the
// cosine schedule decays it to zero over the stage's budget, which matters most for short,
// time-limited runs such as fmnist-cpu.

#include <cstdint>
#include <string>

#include "dcacn/train/stage.h"

namespace dcacn {

enum class LrSchedule { kConstant, kCosine };

/// "constant" or "cosine"; InputError naming `option` and the value otherwise.
LrSchedule parse_lr_schedule(const std::string& text, const std::string& option = "--lr-schedule");
std::string lr_schedule_name(LrSchedule schedule);

/// How much of its budget a stage has used, in [0, 1]: the largest of steps / (epochs x
/// steps_per_epoch), steps / budget steps and seconds / budget minutes, over the limits the
/// budget sets, so the schedule follows whichever ends the stage first. With a time budget the
/// fraction, and so the rate, depends on the machine's speed; with steps or epochs it does not.
double budget_fraction(const StageBudget& budget, int64_t steps, int64_t steps_per_epoch,
                       double seconds);

/// The learning rate at `fraction` of the budget: `lr` for kConstant,
/// lr * (1 + cos(pi * fraction)) / 2 for kCosine.
double scheduled_lr(double lr, LrSchedule schedule, double fraction);

}  // namespace dcacn
