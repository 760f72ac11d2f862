#pragma once
// The learning rate over a run. The paper trains at a constant rate (CC's Adam at 3e-4); the
// cosine schedule decays it to zero over the run's budget, which matters most for short,
// time-limited runs such as fmnist-cpu.

#include <cstdint>
#include <string>

#include "dcacn/run/config.h"

namespace dcacn {

/// How much of its budget a run has used, in [0, 1]: the largest of step / (epochs x
/// steps_per_epoch), step / max_steps (when set) and elapsed / time budget (when set), so the
/// schedule follows whichever budget ends the run first. With a time budget the fraction, and
/// so the rate, depends on the machine's speed; with a step or epoch budget it does not.
double budget_fraction(const TrainConfig& config, int64_t step, int64_t steps_per_epoch,
                       double elapsed_seconds);

/// The learning rate at `fraction` of the budget: config.lr for "constant",
/// config.lr * (1 + cos(pi * fraction)) / 2 for "cosine".
double scheduled_lr(const TrainConfig& config, double fraction);

}  // namespace dcacn
