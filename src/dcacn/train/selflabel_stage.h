#pragma once
// The self-labelling stage (train/self_labelling.h for the losses and their guards): the
// network learns to give pseudo-labels to strongly augmented views, backbone and heads
// together, with a class-balanced cross-entropy. Where the labels come from:
// - online (TCL's boosting, SCAN's self-labelling): the network labels the un-augmented images
//   of each batch itself as it trains, keeping per cluster only its most confident ones;
// - reliable (SPICE's reliable labels): the network labels every image once, when the stage
//   begins, and keeps an image's label only when it is confident (>= threshold) *and* at least
//   a share `agreement` of its nearest neighbours (mined in `space`) fall in the same cluster.
//   The labels stay fixed for the stage, so that they cannot drift with the network that
//   learns them; a later selflabel stage labels again with the better network.
// It starts from whatever the stages before it left: after a neighbour or scan stage, from
// their clustering.

#include "dcacn/run/config.h"
#include "dcacn/train/neighbour_mining.h"
#include "dcacn/train/self_labelling.h"
#include "dcacn/train/stage.h"
#include "dcacn/train/stage_guard.h"

namespace dcacn {

struct SelfLabelStageOptions {
  TORCH_ARG(StageBudget, budget);
  /// Adam's learning rate in the stage (constant).
  TORCH_ARG(double, lr) = 1e-4;
  TORCH_ARG(SelfLabelOptions, loss);
  /// Reliable labels fixed at the stage's start instead of online ones.
  TORCH_ARG(bool, reliable) = false;
  /// Reliable labels: the share of an image's neighbours that must share its cluster.
  TORCH_ARG(double, agreement) = 0.9;
  TORCH_ARG(NeighbourSpace, space) = NeighbourSpace::kFeatures;
  /// Mine in the space's whitened rows (train/neighbour_mining.h); whiten=off: as before.
  TORCH_ARG(bool, whiten) = true;
  TORCH_ARG(int64_t, k) = 20;
  /// Reliable labels: undo the stage when it lowers the share of those neighbours in their
  /// image's cluster (train/stage_guard.h).
  TORCH_ARG(bool, guard) = true;
};

/// The options of a `selflabel:...` entry: its settings, the rest from `config`
/// (--selflabel-lr, --selflabel-threshold, ...).
SelfLabelStageOptions self_label_stage_options(StageSettings& settings, const TrainConfig& config);

class SelfLabelStage : public Stage {
 public:
  explicit SelfLabelStage(SelfLabelStageOptions options) : options_(std::move(options)) {}

  StageKind kind() const override { return StageKind::kSelfLabel; }
  std::string describe() const override;
  const StageBudget& budget() const override { return options_.budget(); }
  bool stepwise() const override { return true; }
  void begin(StageContext& context) override;
  StageState state() const override;
  void restore(const StageState& state, const std::string& source) override;
  LossTerms batch_losses(StageContext& context, const torch::Tensor& images,
                         const torch::Tensor& index) override;
  double learning_rate(StageContext& context) const override { return options_.lr(); }
  bool end(StageContext& context) override;
  std::string progress_name() const override { return "self-labelling, epoch"; }
  std::string second_loss_name() const override { return "ce"; }

  const SelfLabelStageOptions& options() const { return options_; }

 private:
  SelfLabelStageOptions options_;
  torch::Tensor reliable_;  // reliable mode: [N] int64 labels, -1 for none (CPU)
  StageGuard guard_;
};

/// Reliable pseudo-labels ([N] int64, -1: none) from the cluster probabilities [N, K] of every
/// image and their neighbours [N, k]: an image keeps its most probable cluster when that
/// probability is >= threshold and a share >= agreement of its neighbours have the same most
/// probable cluster.
torch::Tensor reliable_labels(const torch::Tensor& probabilities, const torch::Tensor& neighbours,
                              double threshold, double agreement);

}  // namespace dcacn
