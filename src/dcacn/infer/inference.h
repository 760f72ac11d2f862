#pragma once
// Using a trained model: loading it from a run directory or checkpoint file, and running it
// over images in batches (evaluation transform, no augmentation).

#include <torch/types.h>

#include <string>

#include "dcacn/data/dataset.h"
#include "dcacn/model/dcacn_model.h"
#include "dcacn/run/config.h"

namespace dcacn {

struct InferenceOptions {
  int64_t batch_size = 512;
  bool bf16 = false;           ///< bf16 autocast, as the run trained
  bool channels_last = false;  ///< NHWC inputs, as the run trained
  bool features = true;        ///< keep the backbone features
  bool embeddings = true;      ///< keep the instance embeddings
  std::string progress;        ///< label of a progress line; empty: none
};

/// Per-image outputs, float32 on the CPU, rows in input order.
struct ModelOutputs {
  torch::Tensor features;       ///< [N, D] backbone features (when kept)
  torch::Tensor embeddings;     ///< [N, d] L2-normalised instance embeddings (when kept)
  torch::Tensor probabilities;  ///< [N, K] cluster probabilities
};

/// Runs `model` (switched to eval mode for the call) over uint8 `images` [N, C, H, W], each
/// resized to `image_size` by the evaluation transform.
ModelOutputs run_model(DCACNImpl& model, const torch::Tensor& images, int64_t image_size,
                       const InferenceOptions& options);

/// A trained network with what is needed to feed it.
struct TrainedModel {
  std::string checkpoint;  ///< the file it came from
  TrainConfig config;      ///< the run's configuration (data, bf16, layout, batch size)
  DCACNOptions network;    ///< the checkpoint's model record
  int64_t epoch = 0;       ///< epochs completed when the checkpoint was written
  int64_t step = 0;
  int64_t in_channels = 0;  ///< 1 or 3
  int64_t image_size = 0;   ///< side of the network's input (the global view size)
  DCACN model{nullptr};
  torch::Device device{torch::kCPU};

  int64_t clusters() const { return network.clusters(); }
  /// The run's settings (bf16, layout, evaluation batch size) with everything kept.
  InferenceOptions inference_options() const;
  ModelOutputs run(const torch::Tensor& images, const InferenceOptions& options) const;
};

/// A checkpoint file, or RUN_DIR/checkpoints/<which>.pt for a run directory (`which`: last or
/// best). Throws InputError naming what is missing.
std::string resolve_checkpoint(const std::string& path, const std::string& which = "last");

/// Loads the network of a checkpoint (see resolve_checkpoint) onto `device` (auto|cpu|cuda).
TrainedModel load_trained_model(const std::string& path, const std::string& device = "auto",
                                const std::string& which = "last");

/// Settings that replace the run's own when choosing the data to run a model on.
struct DataOverrides {
  std::string dataset;     ///< empty: the run's dataset (another one resets path and split)
  std::string data;        ///< empty: the run's dataset folder
  std::string split;       ///< empty: the run's split
  int64_t image_size = 0;  ///< image folders: decoded size; 0: the run's
  bool given() const { return !dataset.empty() || !data.empty(); }
};

/// The run's dataset (or the one the overrides name), images converted to the model's
/// channels.
Dataset load_dataset_for(const TrainedModel& model, const DataOverrides& overrides = {});

/// Converts uint8 images to `channels` (1: luminance, ITU-R 601 weights; 3: gray replicated),
/// so that a folder of colour photos can go through a grayscale model and back.
torch::Tensor match_channels(const torch::Tensor& images, int64_t channels);

}  // namespace dcacn
