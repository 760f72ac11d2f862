#include "dcacn/model/cbam.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>

#include <algorithm>

#include "dcacn/model/cbam_ops.h"

namespace dcacn {

int64_t ChannelGateOptions::hidden() const {
  return std::min(channels(), std::max(channels() / reduction(), min_hidden()));
}

ChannelGateImpl::ChannelGateImpl(const ChannelGateOptions& options_) : options(options_) {
  reset();
}

void ChannelGateImpl::reset() {
  TORCH_CHECK(options.channels() > 0, "ChannelGate: channels must be positive, got ",
              options.channels());
  TORCH_CHECK(options.reduction() > 0, "ChannelGate: reduction must be positive, got ",
              options.reduction());
  const int64_t hidden = options.hidden();
  mlp = register_module(
      "mlp", torch::nn::Sequential(torch::nn::Linear(options.channels(), hidden), torch::nn::ReLU(),
                                   torch::nn::Linear(hidden, options.channels())));
}

void ChannelGateImpl::pretty_print(std::ostream& stream) const {
  stream << "dcacn::ChannelGate(channels=" << options.channels() << ", hidden=" << options.hidden()
         << ")";
}

torch::Tensor ChannelGateImpl::mask(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.channels(), "ChannelGate: expected [N, ",
              options.channels(), ", H, W] input, got ", x.sizes());
  const auto [avg, max] = cbam_channel_pool(x);
  return weights(avg, max).unsqueeze(2).unsqueeze(3);
}

torch::Tensor ChannelGateImpl::weights(const torch::Tensor& avg, const torch::Tensor& max) {
  // Both pooled descriptors go through the shared MLP as one [2N, C] batch: half the kernel
  // launches of two separate passes, the same arithmetic row by row.
  const int64_t n = avg.size(0);
  const torch::Tensor scores = mlp->forward(torch::cat({avg, max}, 0));
  return torch::sigmoid(scores.slice(0, 0, n) + scores.slice(0, n));
}

torch::Tensor ChannelGateImpl::forward(const torch::Tensor& x) { return x * mask(x); }

SpatialGateImpl::SpatialGateImpl(const SpatialGateOptions& options_) : options(options_) {
  reset();
}

void SpatialGateImpl::reset() {
  TORCH_CHECK(options.kernel_size() % 2 == 1, "SpatialGate: kernel size must be odd, got ",
              options.kernel_size());
  conv = register_module("conv",
                         torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 1, options.kernel_size())
                                               .padding(options.kernel_size() / 2)
                                               .bias(false)));
  bn = register_module("bn", torch::nn::BatchNorm2d(1));
}

void SpatialGateImpl::pretty_print(std::ostream& stream) const {
  stream << "dcacn::SpatialGate(kernel_size=" << options.kernel_size() << ")";
}

torch::Tensor SpatialGateImpl::mask(const torch::Tensor& x) {
  return weights(torch::cat({x.amax(1, /*keepdim=*/true), x.mean(1, true)}, 1));
}

torch::Tensor SpatialGateImpl::weights(const torch::Tensor& pooled) {
  return torch::sigmoid(bn->forward(conv->forward(pooled)));
}

torch::Tensor SpatialGateImpl::forward(const torch::Tensor& x) { return x * mask(x); }

CBAMImpl::CBAMImpl(const CBAMOptions& options_) : options(options_) { reset(); }

void CBAMImpl::reset() {
  channel_gate =
      register_module("channel_gate", ChannelGate(ChannelGateOptions(options.channels())
                                                      .reduction(options.reduction())
                                                      .min_hidden(options.min_hidden())));
  spatial_gate = register_module(
      "spatial_gate", SpatialGate(SpatialGateOptions().kernel_size(options.spatial_kernel())));
}

void CBAMImpl::pretty_print(std::ostream& stream) const {
  stream << "dcacn::CBAM(channels=" << options.channels() << ", reduction=" << options.reduction()
         << ", spatial_kernel=" << options.spatial_kernel() << ")";
}

torch::Tensor CBAMImpl::forward(const torch::Tensor& x) {
  // spatial_gate(channel_gate(x)) without materialising the channel-gated tensor.
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.channels(), "CBAM: expected [N, ",
              options.channels(), ", H, W] input, got ", x.sizes());
  const auto [avg, max] = cbam_channel_pool(x);
  const torch::Tensor g = channel_gate->weights(avg, max);
  const torch::Tensor s = spatial_gate->weights(cbam_spatial_pool(x, g));
  return cbam_gate_product(x, g, s);
}

int64_t CBAMImpl::flops(int64_t h, int64_t w) const {
  const int64_t c = options.channels();
  const int64_t hidden = channel_gate->options.hidden();
  const int64_t k = options.spatial_kernel();
  const int64_t mlp = 2 * 2 * (c * hidden + hidden * c);  // avg and max branches
  const int64_t conv = 2 * (2 * k * k) * h * w;
  return mlp + conv;
}

}  // namespace dcacn
