#pragma once
// Everything a training run depends on, with the defaults of DESIGN.md section 5. Written to
// RUN_DIR/config.json and into every checkpoint, so that a run can be resumed and reproduced.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace dcacn {

struct TrainConfig {
  // Data.
  std::string dataset = "fashion-mnist";  ///< a dataset_names() entry
  std::string data_path;                  ///< empty: the dataset's default location
  std::string split = "all";
  int64_t folder_image_size = 96;         ///< image folders: decoded size
  // Network.
  int64_t depth = 34;
  int64_t width = 64;
  std::string attention = "cbam";
  std::string stem = "auto";
  int64_t clusters = 10;
  // Views: COUNTxSIZE[@MIN-MAX] groups (see parse_views); empty: the dataset's defaults.
  std::string views;
  // Losses.
  std::string instance_loss = "decoupled";  ///< decoupled | infonce
  double instance_temperature = 0.5;
  std::string cluster_loss = "decoupled";   ///< decoupled | infonce
  std::string cluster_reading = "columns";  ///< columns | rows
  double cluster_temperature = 1.0;
  double cluster_weight = 1.0;              ///< lambda
  double entropy_weight = 1.0;
  // Optimisation.
  double lr = 3e-4;
  std::string lr_schedule = "constant";  ///< constant | cosine (to zero over the budget)
  double weight_decay = 0.0;
  int64_t batch_size = 256;
  int64_t epochs = 1000;
  double time_budget_minutes = 0;  ///< > 0: stop after this much training time
  int64_t max_steps = 0;           ///< > 0: stop after this many optimiser steps
  uint64_t seed = 0;
  bool bf16 = false;               ///< CPU bf16 autocast / CUDA bf16 autocast
  bool channels_last = false;      ///< NHWC weights and inputs (faster convolutions on CPU)
  // Evaluation and checkpoints.
  int64_t eval_every = 1;          ///< epochs between evaluations and checkpoints
  int64_t eval_batch_size = 512;
  int64_t keep_epoch_checkpoints = 1;  ///< also keep checkpoints/epoch_NNNN.pt (1) or not (0)
  std::string device = "auto";     ///< auto | cpu | cuda
  std::string preset;              ///< the preset this configuration started from, if any

  nlohmann::json to_json() const;
  /// Reads a configuration; unknown keys are an error (they would be silently ignored).
  static TrainConfig from_json(const nlohmann::json& json);
  /// Checks every value; throws InputError naming the option.
  void validate() const;
};

/// Names of the built-in presets.
const std::vector<std::string>& preset_names();

/// paper-cifar10, paper-stl10, paper-imagenet10 (the paper's settings, for a GPU) and
/// fmnist-cpu (ResNet-34 + CBAM at width 16 on Fashion-MNIST, sized for 2 CPU cores).
TrainConfig preset(const std::string& name);

}  // namespace dcacn
