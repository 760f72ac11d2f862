#pragma once
// The contrastive stage: DCACN's own training (the paper's method). Each batch's multi-crop
// views go through the network, and the decoupled instance- and cluster-level losses
// (train/losses.h) over the view pairs train the backbone and both heads.

#include "dcacn/run/config.h"
#include "dcacn/train/schedule.h"
#include "dcacn/train/stage.h"

namespace dcacn {

struct ContrastiveStageOptions {
  TORCH_ARG(StageBudget, budget);
  /// Adam's learning rate (the start of the schedule).
  TORCH_ARG(double, lr) = 3e-4;
  TORCH_ARG(LrSchedule, schedule) = LrSchedule::kConstant;
};

/// The options of a `contrastive:...` entry: its settings, the rest from `config` (--lr,
/// --lr-schedule).
ContrastiveStageOptions contrastive_options(StageSettings& settings, const TrainConfig& config);

class ContrastiveStage : public Stage {
 public:
  explicit ContrastiveStage(ContrastiveStageOptions options) : options_(std::move(options)) {}

  StageKind kind() const override { return StageKind::kContrastive; }
  std::string describe() const override;
  const StageBudget& budget() const override { return options_.budget(); }
  bool stepwise() const override { return true; }
  LossTerms batch_losses(StageContext& context, const torch::Tensor& images,
                         const torch::Tensor& index) override;
  double learning_rate(StageContext& context) const override;
  std::string progress_name() const override { return "epoch"; }

  const ContrastiveStageOptions& options() const { return options_; }

 private:
  ContrastiveStageOptions options_;
};

}  // namespace dcacn
