#pragma once
// The contrastive stage: DCACN's own training (the paper's method). Each batch's multi-crop
// views go through the network, and the decoupled instance- and cluster-level losses
// (train/losses.h) over the view pairs train the backbone and both heads.
//
// Neighbour views (neighbours=S, off by default): for a share S of each batch's images, the
// second global view is drawn from one of the image's mined nearest neighbours
// (train/neighbour_mining.h) instead of from the image itself, so that the losses pull an image
// and its neighbour together (NNCLR's idea, with neighbours mined in the pixels, where they know
// more than a young network's features). No label is used.
//
// Progressive resizing (early_size=F:early_share=S, off by default): for the first share S of
// the stage's budget every view is drawn at F times its side (28 -> 20 px at F = 0.7, about half
// the FLOPs of a step), then at full size. The network is fully convolutional, so the same
// weights take both; the full-size part at the end settles the batch-norm statistics at the
// resolution the evaluations and predictions use (FixRes).
//
// Weight averaging (ema=D, off by default): an exponential moving average of the network's
// weights is kept beside it (train/weight_average.h: D the largest decay, ema_window=W the
// share of the steps it remembers, 0.1 by default) and put in its place when the stage ends.
// The network as trained is scored first, so metrics.csv has both at the stage's last step.

#include <memory>

#include "dcacn/run/config.h"
#include "dcacn/train/neighbour_mining.h"
#include "dcacn/train/schedule.h"
#include "dcacn/train/stage.h"
#include "dcacn/train/weight_average.h"

namespace dcacn {

struct ContrastiveStageOptions {
  TORCH_ARG(StageBudget, budget);
  /// Adam's learning rate (the start of the schedule).
  TORCH_ARG(double, lr) = 3e-4;
  TORCH_ARG(LrSchedule, schedule) = LrSchedule::kConstant;
  /// Share [0, 1] of each batch's images whose second global view is of a neighbour (0: none).
  TORCH_ARG(double, neighbour_share) = 0;
  /// Where those neighbours are mined, whitened or not, and how many per image.
  TORCH_ARG(NeighbourSpace, space) = NeighbourSpace::kPixels;
  TORCH_ARG(bool, whiten) = true;
  TORCH_ARG(int64_t, k) = 20;
  /// Progressive resizing: the views' sides times early_size (0, 1] for the first early_share
  /// [0, 1) of the stage's budget (1 or 0: off).
  TORCH_ARG(double, early_size) = 1;
  TORCH_ARG(double, early_share) = 0;
  /// The weight average's largest decay in (0, 1); 0: no average.
  TORCH_ARG(double, ema) = 0;
  /// The share (0, 1] of the steps so far that the average remembers (train/weight_average.h).
  TORCH_ARG(double, ema_window) = 0.1;

 public:
  /// Whether progressive resizing is on.
  bool resizes() const { return early_size_ < 1 && early_share_ > 0; }
};

/// The options of a `contrastive:...` entry: its settings, the rest from `config` (--lr,
/// --lr-schedule); neighbours=S, space, whiten=on|off and k for neighbour views (k defaults to
/// --neighbour-k); early_size=F and early_share=S for progressive resizing; ema=D and
/// ema_window=W for the weight average.
ContrastiveStageOptions contrastive_options(StageSettings& settings, const TrainConfig& config);

class ContrastiveStage : public Stage {
 public:
  explicit ContrastiveStage(ContrastiveStageOptions options) : options_(std::move(options)) {}

  StageKind kind() const override { return StageKind::kContrastive; }
  std::string describe() const override;
  const StageBudget& budget() const override { return options_.budget(); }
  bool stepwise() const override { return true; }
  void begin(StageContext& context) override;
  StageState state() const override;
  void restore(const StageState& state, const std::string& source) override;
  LossTerms batch_losses(StageContext& context, const torch::Tensor& images,
                         const torch::Tensor& index) override;
  double learning_rate(StageContext& context) const override;
  bool end(StageContext& context) override;
  bool end_replaces_network() const override { return options_.ema() > 0; }
  std::string progress_name() const override { return "epoch"; }

  const ContrastiveStageOptions& options() const { return options_; }

 private:
  /// The share of the stage's budget spent (the schedule's and the resizing's clock).
  double fraction(StageContext& context) const;
  /// Whether this batch's views are the early, smaller ones (logs the switch to full size).
  bool early_views(StageContext& context);
  /// With ema=: the average kept up to date at every step (restored from `pending_` first).
  void update_average(StageContext& context);

  ContrastiveStageOptions options_;
  bool full_size_logged_ = false;
  torch::Tensor neighbours_;  // [N, k] int64, CPU; undefined without neighbour views
  std::unique_ptr<WeightAverage> average_;
  StageState pending_;          // a checkpoint's average, until the device is known
  double average_seconds_ = 0;  // spent in its updates, for the log
};

/// Which images of the global batch `index` [G] get a neighbour's view at step `step`: [G] bool,
/// each true with probability `share`, from a generator of (seed, step) alone (every rank and a
/// resumed run draw the same).
torch::Tensor draw_neighbour_rows(int64_t batch, double share, uint64_t seed, int64_t step);

}  // namespace dcacn
