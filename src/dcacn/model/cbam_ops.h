#pragma once
// Fused CBAM operations. The composite form of the gates (mean, amax, mul, cat, ...) passes
// over the full activation tensor about ten times forward and again backward, where amax's
// generic backward builds an equality mask, counts ties and divides. On CPU these memory-bound
// passes cost more than the block's convolutions at the narrow widths of the CPU presets.
// Each function below reads the activation once (twice for the product's backward), keeps the
// argmax indices for the backward pass and accumulates in float.
//
// Fast path: CPU tensors in channels-last layout, float or bfloat16. Anything else (CUDA,
// contiguous NCHW, double) falls back to the composite ATen expression, which autograd
// differentiates itself. Both forms compute the same function; the fast path rounds once
// instead of after every step.

#include <torch/types.h>

namespace dcacn {

/// Average and maximum over H and W: x [N, C, H, W] -> {avg [N, C], max [N, C]}.
std::pair<torch::Tensor, torch::Tensor> cbam_channel_pool(const torch::Tensor& x);

/// Maximum and mean over channels of x scaled by the channel gate g [N, C]:
/// x [N, C, H, W] -> [N, 2, H, W] (channel 0: max_c x*g, channel 1: mean_c x*g).
torch::Tensor cbam_spatial_pool(const torch::Tensor& x, const torch::Tensor& g);

/// x * g * s with the channel gate g [N, C] and the spatial gate s [N, 1, H, W].
torch::Tensor cbam_gate_product(const torch::Tensor& x, const torch::Tensor& g,
                                const torch::Tensor& s);

/// Whether the fused kernels handle x (otherwise the composite form runs).
bool cbam_fast_path(const torch::Tensor& x);

/// Turns the fused kernels off (composite form everywhere) or back on, for benchmarks and for
/// ruling them out when debugging. The environment variable DCACN_CBAM_FUSED=0 sets the
/// initial value to off.
void set_cbam_fused(bool enabled);
bool cbam_fused();

}  // namespace dcacn
