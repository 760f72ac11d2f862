#pragma once
// A guard against a stage that makes the clustering worse. It measures, without labels, how
// well the network's clusters fit a fixed neighbour graph (the share of every image's mined
// neighbours that fall in its cluster, the quantity SCAN's consistency term raises, less the
// share that clusters of the same sizes would give random neighbours, so that merging clusters
// does not pay) when the stage begins, keeping a copy of the network, and again when it ends. A
// stage that lowered it is undone: the network it started from is put back. Milestone 2's online
// self-labelling drifted from a 64% head to a worse one, and reliable self-labelling lowered ACC
// from 0.724 to 0.701 in 150 steps at this budget (README); the guard keeps such a stage from
// costing the run what the stages before it gained.

#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "dcacn/train/stage.h"

namespace dcacn {

class StageGuard {
 public:
  /// The stage begins: `graph` [N, k] is the yardstick (kept), the network is copied and its
  /// fit measured on the current clusters (context.probabilities()).
  void begin(StageContext& context, const torch::Tensor& graph, const std::string& who);
  /// The guard's part of the stage's state (prefixed "guard/").
  void save(StageState& state) const;
  /// A state without the guard's entries leaves the guard off for the rest of the stage.
  void restore(const StageState& state, const std::string& source);
  /// The stage ends: true when the network's clusters as it stands fit the graph worse than at
  /// the start, after putting the start network back into the model.
  bool end(StageContext& context, const std::string& who);

 private:
  torch::Tensor graph_;
  double start_fit_ = 0;
  std::vector<std::pair<std::string, torch::Tensor>> start_model_;  // CPU copies
};

}  // namespace dcacn
