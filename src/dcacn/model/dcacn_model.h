#pragma once
// The whole DCACN network: backbone (ResNet with CBAM), instance head, cluster head.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <string>

#include "dcacn/model/heads.h"
#include "dcacn/model/resnet.h"

namespace dcacn {

struct DCACNOptions {
  /// 18, 34 (the paper's) or 50.
  TORCH_ARG(int64_t, depth) = 34;
  /// Image channels: 1 or 3.
  TORCH_ARG(int64_t, in_channels) = 3;
  /// Side of the (square) training images; chooses the stem when stem is "auto".
  TORCH_ARG(int64_t, image_size) = 32;
  /// "auto" (cifar up to 64 px, imagenet above), "cifar" or "imagenet".
  TORCH_ARG(std::string, stem) = "auto";
  /// Base channel count of the backbone (64 in the paper; 16 for the CPU preset).
  TORCH_ARG(int64_t, width) = 64;
  TORCH_ARG(Attention, attention) = Attention::kCBAM;
  TORCH_ARG(int64_t, reduction) = 16;
  TORCH_ARG(int64_t, min_hidden) = 4;
  /// Number of clusters K.
  TORCH_ARG(int64_t, clusters) = 10;
  /// Width of the instance embedding.
  TORCH_ARG(int64_t, embedding_dim) = 128;

 public:
  /// The stem actually used.
  Stem resolved_stem() const;
};

struct DCACNOutput {
  /// [N, D] pooled backbone feature z.
  torch::Tensor features;
  /// [N, 128] L2-normalised instance embedding h.
  torch::Tensor embedding;
  /// [N, K] cluster probabilities p.
  torch::Tensor probabilities;
};

class DCACNImpl : public torch::nn::Cloneable<DCACNImpl> {
 public:
  explicit DCACNImpl(const DCACNOptions& options = {});
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  /// [N, C, H, W] float images in [0, 1].
  DCACNOutput forward(const torch::Tensor& images);
  /// Cluster index per image (argmax p), [N] int64.
  torch::Tensor predict(const torch::Tensor& images);
  /// Puts `head` in place of the cluster head (its K may differ: options.clusters follows).
  void replace_cluster_head(ClusterHead head);

  DCACNOptions options;
  ResNet backbone{nullptr};
  InstanceHead instance_head{nullptr};
  ClusterHead cluster_head{nullptr};
};
TORCH_MODULE(DCACN);

/// Parameter counts of a DCACN by part (CBAM is counted apart from the rest of the backbone).
struct ParameterCounts {
  int64_t backbone_without_attention = 0;
  int64_t attention = 0;
  int64_t instance_head = 0;
  int64_t cluster_head = 0;
  int64_t total() const {
    return backbone_without_attention + attention + instance_head + cluster_head;
  }
};
ParameterCounts count_parameters(DCACNImpl& model);

/// Number of elements of all parameters of a module.
int64_t parameter_count(const torch::nn::Module& module);

/// Stores the module's 4-d weights channels-last (NHWC). With channels-last inputs, oneDNN's
/// convolutions then skip layout conversions: ~12% faster training at width 16 on CPU.
void to_channels_last(torch::nn::Module& module);

/// Forward FLOPs per image of the given side (backbone + heads; 2 per multiply-add).
int64_t forward_flops(const DCACNImpl& model, int64_t image_size);

}  // namespace dcacn
