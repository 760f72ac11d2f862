#pragma once
// The self-labelling stage (train/self_labelling.h for the losses and their guards): the
// network labels the un-augmented images of each batch itself, keeps per cluster only its most
// confident ones, and learns to give those labels to strongly augmented views, backbone and
// heads together. It starts from whatever the stages before it left: after a neighbour stage,
// from the neighbour head's clustering.

#include "dcacn/run/config.h"
#include "dcacn/train/self_labelling.h"
#include "dcacn/train/stage.h"

namespace dcacn {

struct SelfLabelStageOptions {
  TORCH_ARG(StageBudget, budget);
  /// Adam's learning rate in the stage (constant).
  TORCH_ARG(double, lr) = 1e-4;
  TORCH_ARG(SelfLabelOptions, loss);
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
  LossTerms batch_losses(StageContext& context, const torch::Tensor& images,
                         const torch::Tensor& index) override;
  double learning_rate(StageContext& context) const override { return options_.lr(); }
  std::string progress_name() const override { return "self-labelling, epoch"; }
  std::string second_loss_name() const override { return "ce"; }

  const SelfLabelStageOptions& options() const { return options_; }

 private:
  SelfLabelStageOptions options_;
};

}  // namespace dcacn
