#pragma once
// The end-to-end clustering stage: SCAN's clustering step trained through the whole network.
// Each image and one of its mined nearest neighbours (train/neighbour_mining.h) are augmented
// (the first global view's transforms), and backbone and cluster head learn to put both in the
// same cluster:
//
//   loss = -mean_i log <p(a_i), p(n_i)>  +  w * sum_k m_k log m_k,   m = mean_i p(a_i),
//
// the neighbour stage's objective (train/neighbour_head.h), but on augmented views and with the
// backbone trained: the features learn what the neighbours know instead of heads being fitted
// to frozen features. It starts from the network's cluster head as it stands: after a
// `neighbours` stage, the kept one of its heads trained on frozen features (SCAN's start).
// No label is used.

#include "dcacn/run/config.h"
#include "dcacn/train/neighbour_mining.h"
#include "dcacn/train/stage.h"
#include "dcacn/train/stage_guard.h"

namespace dcacn {

struct ScanStageOptions {
  TORCH_ARG(StageBudget, budget);
  /// Adam's learning rate in the stage (constant; SCAN's 1e-4).
  TORCH_ARG(double, lr) = 1e-4;
  TORCH_ARG(NeighbourSpace, space) = NeighbourSpace::kPixels;
  /// Mine in the space's whitened rows (train/neighbour_mining.h); whiten=off: as before.
  TORCH_ARG(bool, whiten) = true;
  /// Neighbours per image; each step draws one of them per anchor.
  TORCH_ARG(int64_t, k) = 20;
  /// w above.
  TORCH_ARG(double, entropy_weight) = 5.0;
  /// Undo the stage when it lowers the share of neighbours in their image's cluster
  /// (train/stage_guard.h). Off by default: the guard judges the cluster head, and a scan
  /// stage at a high learning rate can leave a head that fits worse on features that cluster
  /// better (k-means on them 0.61 -> 0.71, and new heads on them +0.014 ACC; README).
  TORCH_ARG(bool, guard) = false;
};

/// The options of a `scan:...` entry (minutes, steps, epochs, lr, space, whiten=on|off, k, entropy,
/// guard=on|off); the space, k and entropy weight default to the neighbour stage's (--neighbours,
/// --neighbour-k,
/// --neighbour-entropy-weight).
ScanStageOptions scan_stage_options(StageSettings& settings, const TrainConfig& config);

class ScanStage : public Stage {
 public:
  explicit ScanStage(ScanStageOptions options) : options_(std::move(options)) {}

  StageKind kind() const override { return StageKind::kScan; }
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
  std::string progress_name() const override { return "scan, epoch"; }
  std::string second_loss_name() const override { return "consistency"; }

  const ScanStageOptions& options() const { return options_; }

 private:
  ScanStageOptions options_;
  torch::Tensor neighbours_;  // [N, k] int64, CPU
  StageGuard guard_;
};

/// The neighbour of each anchor of the global batch `index` [G] a step draws: one of its
/// `neighbours` ([N, k]) uniformly, from a generator of (seed, step) alone, so that a resumed
/// run and every rank draw the same.
torch::Tensor draw_partners(const torch::Tensor& neighbours, const torch::Tensor& index,
                            uint64_t seed, int64_t step);

}  // namespace dcacn
