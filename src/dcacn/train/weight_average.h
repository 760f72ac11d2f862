#pragma once
// An exponential moving average of a network's weights (Polyak averaging; the "mean teacher" of
// BYOL, MoCo's key encoder and DINO's teacher), kept beside the network while it trains. A
// network trained at a constant learning rate wanders around its optimum from step to step
// (Fashion-MNIST's contrastive head: ACC 0.735-0.760 between one minute and the next in a
// 30-minute run); the average sits nearer its middle, without the learning rate decay that
// also slows the training down.
//
// The decay after u updates is min(max_decay, (1 + u) / (1 + 1 / window + u)): the average
// remembers about the last `window` share of the updates (the random start forgotten quickly),
// up to 1 / (1 - max_decay) of them. So the horizon scales with the stage's length. Which window
// is best depends on whether the network is still improving: on Fashion-MNIST a third gained
// 0.009 at 30 minutes and lost 0.011 at 10 (README, "Weight averaging").
// BatchNorm's running statistics are averaged too; integer buffers are copied.

#include <torch/nn/module.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dcacn {

class WeightAverage {
 public:
  /// `max_decay` in (0, 1), `window` in (0, 1].
  WeightAverage(double max_decay, double window);

  /// Whether it holds an average (after the first update, until take()).
  bool started() const { return !average_.empty(); }
  int64_t updates() const { return updates_; }
  /// The decay the next update uses.
  double next_decay() const;

  /// Folds the module's current weights into the average; the first call copies them.
  void update(const torch::nn::Module& module);
  /// Puts the average into `module` (InputError naming the first mismatch) and forgets it.
  void take(torch::nn::Module& module);

  /// The average and the update count as named CPU tensors (prefixed `prefix`), for a
  /// checkpoint; nothing when not started.
  void save(std::vector<std::pair<std::string, torch::Tensor>>& out,
            const std::string& prefix) const;
  /// The entries save() wrote under `prefix`, on `device`; none leaves it not started.
  void restore(const std::vector<std::pair<std::string, torch::Tensor>>& in,
               const std::string& prefix, torch::Device device);

 private:
  double max_decay_;
  double window_;
  int64_t updates_ = 0;
  std::vector<std::pair<std::string, torch::Tensor>> average_;  // the module's order and device
};

}  // namespace dcacn
