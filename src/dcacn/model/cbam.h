#pragma once
// CBAM: Convolutional Block Attention Module (Woo et al., ECCV 2018), as in the authors'
// official code: a channel gate (shared MLP over average- and max-pooled features) followed
// by a spatial gate (7x7 conv over channel-wise max and mean, BatchNorm, sigmoid).

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

namespace dcacn {

struct ChannelGateOptions {
  explicit ChannelGateOptions(int64_t channels) : channels_(channels) {}
  /// Number of feature channels C.
  TORCH_ARG(int64_t, channels);
  /// MLP hidden width is C / reduction ...
  TORCH_ARG(int64_t, reduction) = 16;
  /// ... but at least this many units (narrow layers of the CPU presets; capped at C).
  TORCH_ARG(int64_t, min_hidden) = 4;

 public:
  /// max(channels / reduction, min_hidden), at most channels.
  int64_t hidden() const;
};

/// M_c = sigmoid(MLP(avgpool F) + MLP(maxpool F)); returns M_c * F. [N, C, H, W] -> same.
class ChannelGateImpl : public torch::nn::Cloneable<ChannelGateImpl> {
 public:
  explicit ChannelGateImpl(const ChannelGateOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x);
  /// The attention weights alone, [N, C, 1, 1] in (0, 1).
  torch::Tensor mask(const torch::Tensor& x);
  /// The weights [N, C] from the average- and max-pooled descriptors, each [N, C].
  torch::Tensor weights(const torch::Tensor& avg, const torch::Tensor& max);

  ChannelGateOptions options;
  torch::nn::Sequential mlp{nullptr};
};
TORCH_MODULE(ChannelGate);

struct SpatialGateOptions {
  /// Side of the square convolution over the [max, mean] channel map.
  TORCH_ARG(int64_t, kernel_size) = 7;
};

/// M_s = sigmoid(BN(conv([max_c F, mean_c F]))); returns M_s * F. [N, C, H, W] -> same.
class SpatialGateImpl : public torch::nn::Cloneable<SpatialGateImpl> {
 public:
  explicit SpatialGateImpl(const SpatialGateOptions& options = {});
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x);
  /// The attention weights alone, [N, 1, H, W] in (0, 1).
  torch::Tensor mask(const torch::Tensor& x);
  /// The weights [N, 1, H, W] from the [max_c, mean_c] map [N, 2, H, W].
  torch::Tensor weights(const torch::Tensor& pooled);

  SpatialGateOptions options;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(SpatialGate);

struct CBAMOptions {
  explicit CBAMOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, reduction) = 16;
  TORCH_ARG(int64_t, min_hidden) = 4;
  TORCH_ARG(int64_t, spatial_kernel) = 7;
};

/// Channel gate, then spatial gate. [N, C, H, W] -> same. The gates' pooling and products run
/// through the fused operations of cbam_ops.h.
class CBAMImpl : public torch::nn::Cloneable<CBAMImpl> {
 public:
  explicit CBAMImpl(const CBAMOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x);
  /// FLOPs (2 per multiply-add) of the gate's MLP and convolution for an H x W input.
  int64_t flops(int64_t h, int64_t w) const;

  CBAMOptions options;
  ChannelGate channel_gate{nullptr};
  SpatialGate spatial_gate{nullptr};
};
TORCH_MODULE(CBAM);

}  // namespace dcacn
