#pragma once
// The neighbour stage: SCAN's clustering step on the current network's frozen features
// (train/neighbour_head.h). Each image's nearest neighbours are mined in pixel space or in the
// features, several cluster heads are trained on the features so that each image and its
// neighbours share a cluster, and the consensus head (train/neighbour_head.h; keep=loss: the
// lowest-loss one) replaces the network's cluster head.
// space=auto tries pixels, features and both, and keeps the heads of the space whose clusters
// the neighbours of all three fit best (neighbour_fit, averaged).
// own=on lets the network's own cluster head compete: the stage keeps it, and changes nothing,
// when its clusters fit the neighbours of pixels and of features (those two at least, every
// space tried besides: neighbour_fit, averaged) better than the kept heads' clusters do. A
// network trained on neighbour views can cluster better than heads on its frozen features
// (bench/results/fmnist_quality.md: 0.758 against 0.738).
// With a --k-range, the number of clusters is estimated first (--k-criterion: stability, on the
// features, cluster/k_estimation.h; or heads, on a sample with its neighbours mined among it,
// train/heads_k_estimation.h) and the heads have that many outputs. A whole stage: it runs
// at once, with no budget of its own.

#include <vector>

#include "dcacn/cluster/k_estimation.h"
#include "dcacn/run/config.h"
#include "dcacn/train/neighbour_head.h"
#include "dcacn/train/neighbour_mining.h"
#include "dcacn/train/stage.h"

namespace dcacn {

/// The file of the run's folder that holds the criterion of every K tried (k,stability,...).
constexpr const char* kKEstimateFile = "k_estimate.csv";

/// The file of the run's folder that holds, for space=auto, how well the clusters from each
/// space's neighbours fit every space's neighbours (space,fit_pixels,...,mean_fit,chosen).
constexpr const char* kNeighbourSpaceFile = "neighbour_spaces.csv";

/// The heads' stopping rule unless the entry sets patience= / tolerance=: training ends after
/// kNeighbourPatience passes in a row that lowered the heads' mean consistency by less than
/// kNeighbourTolerance (relative), or after passes= passes (bench/results/neighbour_stage.md).
constexpr int64_t kNeighbourPatience = 2;
constexpr double kNeighbourTolerance = 0.01;

struct NeighbourStageOptions {
  TORCH_ARG(NeighbourSpace, space) = NeighbourSpace::kPixels;
  /// Mine in the space's whitened rows (train/neighbour_mining.h); whiten=off: as before.
  TORCH_ARG(bool, whiten) = true;
  /// Neighbours per image.
  TORCH_ARG(int64_t, k) = 20;
  /// The heads' training (its seed is the run's).
  TORCH_ARG(NeighbourHeadOptions, heads);
  /// > 0 (the run's --k-range): the heads' K is estimated in [min_k, max_k] first, by
  /// `k_criterion` (the run's --k-criterion), and the network's cluster head takes that K.
  TORCH_ARG(int64_t, min_k) = 0;
  TORCH_ARG(int64_t, max_k) = 0;
  TORCH_ARG(KCriterion, k_criterion) = KCriterion::kStability;
  /// The network's own cluster head competes with the heads (own=on; not with a --k-range).
  TORCH_ARG(bool, own) = false;
};

/// Whether the heads, `done` of `all` passes taken, take another inside a run's time budget:
/// when it and the heads' scoring after it (about a pass, `pass_seconds` each) fit in
/// `seconds_left` less the `later_seconds` kept for spaces still to try. Below half the passes
/// (3-6 of 20 cost 0.04 ACC, 10 0.007: bench/results/neighbour_stage.md) the run's
/// `allowed_over` its budget counts too (StageContext::seconds_allowed_over).
bool another_heads_pass(int64_t done, int64_t all, double pass_seconds, double seconds_left,
                        double later_seconds, double allowed_over);

/// The options of a `neighbours:...` entry: its settings, the rest from `config`
/// (--neighbours when not off, --neighbour-k, ...).
NeighbourStageOptions neighbour_stage_options(StageSettings& settings, const TrainConfig& config);

class NeighbourStage : public Stage {
 public:
  explicit NeighbourStage(NeighbourStageOptions options) : options_(std::move(options)) {}

  StageKind kind() const override { return StageKind::kNeighbours; }
  std::string describe() const override;
  const StageBudget& budget() const override { return budget_; }
  bool stepwise() const override { return false; }
  WholeStageResult run(StageContext& context) override;
  double estimate_seconds(StageContext& context) override;
  void retime() override;

  const NeighbourStageOptions& options() const { return options_; }

 private:
  NeighbourStageOptions options_;
  double heads_seconds_ = -1;           // estimate_seconds()'s timings
  std::vector<double> mining_seconds_;  // per candidate space; < 0: not yet timed
  double k_seconds_ = -1;
  StageBudget budget_;  // none
};

/// Copies `source`'s parameters into `target`'s of the same name; InputError naming the first
/// name missing or of another shape.
void copy_parameters(torch::nn::Module& target, const torch::nn::Module& source);

}  // namespace dcacn
