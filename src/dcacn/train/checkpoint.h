#pragma once
// Training checkpoints: one file with everything needed to continue a run exactly.
//
// The file is a pickled dict (torch::pickle_save, readable by Python's torch.load):
//   "format": "dcacn-checkpoint-1", "config": JSON text, "epoch", "batch_in_epoch", "step",
//   "train_seconds", "best_acc", "model": {name: tensor} (a plain PyTorch state dict),
//   "optimizer": LibTorch's serialized Adam state (bytes as a uint8 tensor),
//   "augment_rng": the augmentation generator's state (uint8 tensor).
// Files are written to a temporary name and renamed, so a crash never leaves a broken one.

#include <torch/optim/adam.h>
#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "dcacn/train/config.h"

namespace dcacn {

struct Checkpoint {
  TrainConfig config;
  int64_t epoch = 0;           ///< index of the epoch in progress (all before it are done)
  int64_t batch_in_epoch = 0;  ///< batches of that epoch already trained on
  int64_t step = 0;            ///< optimisation steps so far
  double train_seconds = 0;    ///< wall time of the run so far
  double best_acc = -1;        ///< best evaluation ACC so far (-1: none)
  std::vector<std::pair<std::string, torch::Tensor>> model;
  torch::Tensor optimizer;     ///< uint8 bytes of the serialized optimizer
  torch::Tensor augment_rng;   ///< uint8 generator state
};

/// Serialized optimizer state (LibTorch's own archive format) as a uint8 tensor, and back.
torch::Tensor optimizer_bytes(torch::optim::Optimizer& optimizer);
void load_optimizer_bytes(torch::optim::Optimizer& optimizer, const torch::Tensor& bytes,
                          const std::string& source);

void save_checkpoint(const Checkpoint& checkpoint, const std::string& path);

/// Throws InputError naming the file when it is missing, damaged or not a dcacn checkpoint.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace dcacn
