#pragma once
// Run checkpoints: one file with everything needed to use the network, and to continue its
// run exactly.
//
// The file is a pickled dict (torch::pickle_save, readable by Python's torch.load):
//   "format": "dcacn-checkpoint", "format_version": 5,
//   "model_record": JSON text, the resolved network (see model_record_json): inference builds
//                   the network from it alone,
//   "config": JSON text, the run's configuration,
//   "epoch", "batch_in_epoch", "step", "train_seconds",
//   "model": {name: tensor} (a plain PyTorch state dict),
//   "optimizer": LibTorch's serialized Adam state (bytes as a uint8 tensor),
//   "augment_rng": the augmentation generator's state (uint8 tensor),
//   "loss_sums": float64 [4], "loss_steps": the losses since the last metrics row,
//   "pipeline": the run's stages as --stages writes them in full (train/pipeline.h),
//   "stage_index": the stage in progress (or next: the pipeline's length once all are done),
//   "stage_started": whether it has begun, "stage_start_step", "stage_start_seconds" and
//   "stage_start_epoch": where it began (its budgets count from there),
//   "stage": the kind of the stage that trained the weights (1 contrastive, 2 self-labelling,
//   3 neighbours, 4 scan; metrics.csv's column), "metrics_rows": the rows of metrics.csv this state
//   has written, "pseudo_labels": int64 [M, 2], (image, pseudo-label) of the self-labelling
//   steps since the last row (their statistics are computed when the row is written),
//   "stage_state": {name: tensor}, what the stage in progress computed when it began and uses
//   until it ends (a scan stage's neighbours, reliable pseudo-labels; version 5).
// Nothing in a checkpoint depends on the data's labels.
// Version 4 files (no "stage_state") load with none.
// Version 3 files (stages as 1, 2, 3 of a fixed order; "best_acc" and "pseudo_counts", the
// pseudo-label counts by true class) load with an empty pipeline: the trainer derives it from
// the configuration. Version 2 files (no stages) load as stage 1.
// Version 1 files ("format": "dcacn-checkpoint-1", no model record) still load: their network
// is derived from the configuration and the weights, as version 1 did.
// Files are written to a temporary name, fsynced and renamed, so that a crash or a power cut
// never leaves a broken one.

#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "dcacn/model/dcacn_model.h"
#include "dcacn/run/config.h"

namespace dcacn {

constexpr int64_t kCheckpointFormatVersion = 5;

struct Checkpoint {
  int64_t format_version = kCheckpointFormatVersion;  ///< of the file it was read from
  DCACNOptions network;                               ///< the resolved network (stem never "auto")
  TrainConfig config;
  int64_t epoch = 0;           ///< index of the epoch in progress (all before it are done)
  int64_t batch_in_epoch = 0;  ///< batches of that epoch already trained on
  int64_t step = 0;            ///< optimisation steps so far
  double train_seconds = 0;    ///< wall time of the run so far
  double best_acc = -1;        ///< versions 1-3: best evaluation ACC so far (-1: none)
  std::vector<std::pair<std::string, torch::Tensor>> model;
  torch::Tensor optimizer;    ///< uint8 bytes of the serialized optimizer
  torch::Tensor augment_rng;  ///< uint8 generator state
  /// Sums of the total, instance, cluster and entropy losses over the `loss_steps` steps since
  /// the last metrics row (zeros in version 1 files).
  std::vector<double> loss_sums = std::vector<double>(4, 0.0);
  int64_t loss_steps = 0;
  /// The kind of stage that trained the weights (versions 1-3: 1 contrastive, 2 self-labelling,
  /// 3 neighbour stage done, in that fixed order).
  int64_t stage = 1;
  int64_t stage_start_step = 0;    ///< step at which the stage in progress began
  double stage_start_seconds = 0;  ///< run time at which it began
  std::string pipeline;            ///< empty in versions 1-3
  int64_t stage_index = 0;
  bool stage_started = true;
  int64_t stage_start_epoch = 0;
  int64_t metrics_rows = 0;     ///< -1 in versions 1-3 (unknown)
  torch::Tensor pseudo_labels;  ///< int64 [M, 2] or undefined
  torch::Tensor pseudo_counts;  ///< version 3: PseudoLabelStats::to_tensor(); else undefined
  std::vector<std::pair<std::string, torch::Tensor>> stage_state;  ///< CPU tensors
};

/// The network's record: architecture, width, attention, stem (resolved), input channels and
/// size, clusters, embedding width and the CBAM reduction.
nlohmann::json model_record_json(const DCACNOptions& network);
/// The network a record describes; InputError naming `source` when it is incomplete.
DCACNOptions model_record_from_json(const nlohmann::json& record, const std::string& source);

/// Serialized optimizer state (LibTorch's own archive format) as a uint8 tensor, and back.
torch::Tensor optimizer_bytes(torch::optim::Optimizer& optimizer);
void load_optimizer_bytes(torch::optim::Optimizer& optimizer, const torch::Tensor& bytes,
                          const std::string& source);

void save_checkpoint(const Checkpoint& checkpoint, const std::string& path);

/// Throws InputError naming the file when it is missing, damaged or not a dcacn checkpoint.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace dcacn
