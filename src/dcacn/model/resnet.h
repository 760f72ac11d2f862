#pragma once
// ResNet-18/34/50 backbones with optional CBAM in every residual block (docs/design.md sections
// 2-3). Parameter names follow torchvision ("layer1.0.conv1.weight"), so that a plain
// ResNet-34 matches torchvision's resnet34 tensor for tensor, less its fc layer.

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/pooling.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

#include "dcacn/model/cbam.h"

namespace dcacn {

enum class Attention { kNone, kCBAM };
enum class Stem {
  kCifar,     ///< 3x3 conv, stride 1, no max-pool: for inputs up to 64 px
  kImagenet,  ///< 7x7 conv stride 2 + 3x3 max-pool stride 2: for larger inputs
};

/// Parses "cbam" / "none".
Attention parse_attention(const std::string& text);
std::string attention_name(Attention attention);
/// Parses "cifar" / "imagenet" (use stem_for_image_size for "auto").
Stem parse_stem(const std::string& text);
std::string stem_name(Stem stem);
/// The stem docs/design.md prescribes for square inputs of this side: cifar up to 64 px.
Stem stem_for_image_size(int64_t image_size);

struct ResidualBlockOptions {
  ResidualBlockOptions(int64_t in_channels, int64_t planes)
      : in_channels_(in_channels), planes_(planes) {}
  /// Channels entering the block.
  TORCH_ARG(int64_t, in_channels);
  /// Width of the block's 3x3 convolution; the block outputs planes * expansion channels.
  TORCH_ARG(int64_t, planes);
  /// Stride of the (first) 3x3 convolution; 2 halves the resolution.
  TORCH_ARG(int64_t, stride) = 1;
  /// CBAM after the last BatchNorm, before the residual addition.
  TORCH_ARG(Attention, attention) = Attention::kCBAM;
  TORCH_ARG(int64_t, reduction) = 16;
  TORCH_ARG(int64_t, min_hidden) = 4;
};

/// conv3x3-BN-ReLU-conv3x3-BN [-CBAM] + shortcut, ReLU. Expansion 1.
class BasicBlockImpl : public torch::nn::Cloneable<BasicBlockImpl> {
 public:
  static constexpr int64_t kExpansion = 1;
  explicit BasicBlockImpl(const ResidualBlockOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  /// [N, in_channels, H, W] -> [N, planes, H / stride, W / stride]
  torch::Tensor forward(const torch::Tensor& x);
  /// FLOPs for an H x W input (convolutions, attention; not BN/ReLU).
  int64_t flops(int64_t h, int64_t w) const;

  ResidualBlockOptions options;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  CBAM cbam{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

/// conv1x1-BN-ReLU-conv3x3(stride)-BN-ReLU-conv1x1-BN [-CBAM] + shortcut, ReLU. Expansion 4.
class BottleneckImpl : public torch::nn::Cloneable<BottleneckImpl> {
 public:
  static constexpr int64_t kExpansion = 4;
  explicit BottleneckImpl(const ResidualBlockOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  /// [N, in_channels, H, W] -> [N, 4 planes, H / stride, W / stride]
  torch::Tensor forward(const torch::Tensor& x);
  int64_t flops(int64_t h, int64_t w) const;

  ResidualBlockOptions options;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  CBAM cbam{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

struct ResNetOptions {
  explicit ResNetOptions(int64_t depth) : depth_(depth) {}
  /// 18 or 34 (BasicBlocks), 50 (Bottlenecks).
  TORCH_ARG(int64_t, depth);
  /// Image channels: 1 (Fashion-MNIST) or 3 (colour).
  TORCH_ARG(int64_t, in_channels) = 3;
  /// Channels of the first stage; stages have width, 2, 4 and 8 times width.
  TORCH_ARG(int64_t, width) = 64;
  TORCH_ARG(Stem, stem) = Stem::kCifar;
  TORCH_ARG(Attention, attention) = Attention::kCBAM;
  /// CBAM channel-gate reduction and its hidden-width floor.
  TORCH_ARG(int64_t, reduction) = 16;
  TORCH_ARG(int64_t, min_hidden) = 4;
};

/// What one part of the backbone does to an image, for summaries.
struct StageSummary {
  std::string name;  ///< "stem", "layer1", ...
  int64_t blocks = 0;
  int64_t out_channels = 0, out_h = 0, out_w = 0;
  int64_t parameters = 0;            ///< including attention
  int64_t attention_parameters = 0;  ///< CBAM only
  int64_t flops = 0;                 ///< forward, one image, 2 per multiply-add
};

/// The pooled feature width of a backbone of this depth and base width: 8 * width * expansion.
int64_t backbone_feature_dim(int64_t depth, int64_t width);

/// Backbone: stem, four stages, global average pooling. [N, C, H, W] -> [N, feature_dim()].
class ResNetImpl : public torch::nn::Cloneable<ResNetImpl> {
 public:
  explicit ResNetImpl(const ResNetOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x);
  /// Pooled feature width: 8 * width * expansion (512 for ResNet-34 at width 64).
  int64_t feature_dim() const;
  /// Forward FLOPs for one image of size H x W (2 per multiply-add; convolutions, attention
  /// MLPs and convolutions, not BatchNorm/ReLU/pooling).
  int64_t flops(int64_t h, int64_t w) const;
  /// Stem and the four stages for an H x W input.
  std::vector<StageSummary> summarize(int64_t h, int64_t w) const;

  ResNetOptions options;
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::MaxPool2d maxpool{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};

 private:
  torch::nn::Sequential make_stage(int64_t& in_channels, int64_t planes, int64_t blocks,
                                   int64_t stride);
  void initialize();
};
TORCH_MODULE(ResNet);

}  // namespace dcacn
