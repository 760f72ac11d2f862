#include "dcacn/run/setup.h"

#include <torch/cuda.h>

#include "dcacn/util/error.h"

namespace dcacn {

torch::Device pick_device(const std::string& name) {
  DCACN_CHECK(name == "auto" || name == "cpu" || name == "cuda",
              "--device must be auto, cpu or cuda, got ", name);
  if (name == "cuda" || (name == "auto" && torch::cuda::is_available())) {
    DCACN_CHECK(torch::cuda::is_available(),
                "--device cuda: this LibTorch build has no CUDA, or no GPU is visible");
    return torch::Device(torch::kCUDA);
  }
  return torch::Device(torch::kCPU);
}

torch::Tensor to_device(const torch::Tensor& host, const torch::Device& device) {
  if (!device.is_cuda() || !host.device().is_cpu()) return host.to(device);
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

DatasetSpec dataset_spec(const TrainConfig& c) {
  DatasetSpec spec;
  spec.name = c.dataset;
  spec.path = c.data_path;
  spec.split = parse_split(c.split);
  spec.folder.image_size = c.folder_image_size;
  if (c.channels > 0) spec.folder.channels = c.channels;
  spec.folder.squash = c.folder_squash;
  return spec;
}

DatasetInfo dataset_info(const TrainConfig& c) {
  return dataset_info(c.dataset, dataset_spec(c).folder);
}

MultiCropSpec view_spec(const TrainConfig& c) {
  const MultiCropSpec defaults = parse_views(dataset_info(c).default_views, MultiCropSpec());
  return c.views.empty() ? defaults : parse_views(c.views, defaults);
}

DCACNOptions model_options(const TrainConfig& c, int64_t in_channels, int64_t image_size) {
  return DCACNOptions()
      .depth(c.depth)
      .in_channels(in_channels)
      .image_size(image_size)
      .stem(c.stem)
      .width(c.width)
      .attention(parse_attention(c.attention))
      .clusters(c.clusters);
}

}  // namespace dcacn
