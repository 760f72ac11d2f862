#pragma once
// From a run's configuration to the objects it describes: the device, the dataset, the views
// and the network. Shared by training and by the commands that use a trained model.

#include <torch/types.h>

#include <string>

#include "dcacn/augment/multicrop.h"
#include "dcacn/data/registry.h"
#include "dcacn/model/dcacn_model.h"
#include "dcacn/run/config.h"

namespace dcacn {

/// "cpu", "cuda" or "auto" (CUDA when this LibTorch has it and a GPU is visible).
torch::Device pick_device(const std::string& name);

/// A batch from host memory on `device`: on CUDA through pinned memory with an asynchronous copy
/// (ordered on the current stream before the kernels that use it); elsewhere a plain copy.
torch::Tensor to_device(const torch::Tensor& host, const torch::Device& device);

/// The descriptor of the configuration's dataset (image folders: its size and channels).
DatasetInfo dataset_info(const TrainConfig& config);

/// The dataset a configuration trains on.
DatasetSpec dataset_spec(const TrainConfig& config);

/// The views of a configuration: its --views on top of the dataset's default views.
MultiCropSpec view_spec(const TrainConfig& config);

/// The network of a configuration for `in_channels` images seen at `image_size`.
DCACNOptions model_options(const TrainConfig& config, int64_t in_channels, int64_t image_size);

}  // namespace dcacn
