#pragma once
// Batched, seeded image augmentations (DESIGN.md sections 1 and 5).
//
// Every function takes a batch of float images [B, C, H, W] in [0, 1] (C = 1 or 3) on any
// device and returns a new batch on that device. Per-sample random parameters are drawn as
// tensors from the generator passed in (a CPU generator: parameters are drawn on the CPU and
// moved, so the same seed gives the same views on every device type). No per-pixel C++ loops.
//
// One-channel images: saturation, hue and grayscale have nothing to act on and leave the
// image unchanged; brightness, contrast, blur and solarisation work as for colour images.

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <utility>

namespace dcacn {

/// Uniform draws in [low, high), [n] float on `device`.
torch::Tensor uniform(int64_t n, double low, double high, at::Generator& gen,
                      const torch::Device& device);
/// Bernoulli(p) draws, [n] bool on `device`.
torch::Tensor coin(int64_t n, double p, at::Generator& gen, const torch::Device& device);

struct CropBoxes {
  /// [B] pixel coordinates of each crop (left, top) and its size, float.
  torch::Tensor x0, y0, w, h;
};

/// torchvision's RandomResizedCrop box sampling, batched: area fraction uniform in `scale`,
/// log aspect ratio uniform in log(`ratio`), up to 10 tries per image, then the central crop
/// with the ratio clamped to the range (torchvision's fallback).
CropBoxes sample_crop_boxes(int64_t batch, int64_t height, int64_t width,
                            std::pair<double, double> scale, std::pair<double, double> ratio,
                            at::Generator& gen, const torch::Device& device);

/// Crops each image to its box, mirrors it where `flip` ([B] bool, may be undefined) is true
/// and resizes it to size x size by bilinear interpolation: one grid_sample for the batch.
torch::Tensor crop_flip_resize(const torch::Tensor& images, const CropBoxes& boxes,
                               const torch::Tensor& flip, int64_t size);

/// Luminance (ITU-R 601: 0.299 R + 0.587 G + 0.114 B), [B, 1, H, W]; the image itself for C = 1.
torch::Tensor luminance(const torch::Tensor& images);

/// x * factor, factor per image [B]; clamped to [0, 1].
torch::Tensor adjust_brightness(const torch::Tensor& images, const torch::Tensor& factor);
/// Blend with each image's mean luminance: mean + (x - mean) * factor; clamped.
torch::Tensor adjust_contrast(const torch::Tensor& images, const torch::Tensor& factor);
/// Blend with the per-pixel luminance: gray + (x - gray) * factor; clamped. C = 1: unchanged.
torch::Tensor adjust_saturation(const torch::Tensor& images, const torch::Tensor& factor);
/// Rotates the hue by shift * 360 degrees, shift per image in [-0.5, 0.5]. C = 1: unchanged.
torch::Tensor adjust_hue(const torch::Tensor& images, const torch::Tensor& shift);
/// Luminance replicated over the channels where `mask` [B] is true.
torch::Tensor to_grayscale(const torch::Tensor& images, const torch::Tensor& mask);
/// Gaussian blur with per-image sigma [B] (pixels) and an odd kernel size, reflect padding.
torch::Tensor gaussian_blur(const torch::Tensor& images, const torch::Tensor& sigma,
                            int64_t kernel_size);
/// 1 - x where x >= threshold, where `mask` [B] is true.
torch::Tensor solarize(const torch::Tensor& images, const torch::Tensor& mask,
                       double threshold = 0.5);

/// The evaluation transform: uint8 [B, C, H, W] to float [B, C, size, size] in [0, 1] by
/// bilinear resize of the central square crop (no randomness; identity when H = W = size).
torch::Tensor eval_transform(const torch::Tensor& images, int64_t size);

}  // namespace dcacn
