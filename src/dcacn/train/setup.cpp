#include "dcacn/train/setup.h"

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

DatasetSpec dataset_spec(const TrainConfig& c) {
  DatasetSpec spec;
  spec.name = c.dataset;
  spec.path = c.data_path;
  spec.split = parse_split(c.split);
  spec.folder.image_size = c.folder_image_size;
  return spec;
}

MultiCropSpec view_spec(const TrainConfig& c, int64_t image_size) {
  const MultiCropSpec defaults = default_multicrop(c.dataset, image_size);
  return c.views.empty() ? defaults : parse_views(c.views, defaults);
}

int64_t stored_image_size(const TrainConfig& c) {
  if (c.dataset == "fashion-mnist" || c.dataset == "mnist") return 28;
  if (c.dataset == "cifar10" || c.dataset == "cifar100") return 32;
  if (c.dataset == "stl10") return 96;
  return c.folder_image_size;
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
