#pragma once
// Batched, seeded image augmentations (docs/design.md sections 1 and 5).
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
  /// [B] bool: a random try fitted (false: the fallback box); may be undefined.
  torch::Tensor fitted;
};

/// torchvision's RandomResizedCrop box sampling, batched: area fraction uniform in `scale`,
/// log aspect ratio uniform in log(`ratio`), up to 10 tries per image, then the central crop
/// with the ratio clamped to the range (torchvision's fallback).
CropBoxes sample_crop_boxes(int64_t batch, int64_t height, int64_t width,
                            std::pair<double, double> scale, std::pair<double, double> ratio,
                            at::Generator& gen, const torch::Device& device);

/// Crops each image to its box, mirrors it where `flip` ([B] bool, may be undefined) is true
/// and resizes it to size x size by bilinear interpolation: one grid_sample for the batch.
/// `affine` ([B, 2, 3], may be undefined) then transforms the resized crop, in the same
/// resampling: it maps each output pixel's normalised coordinates (-1..1, y down) to the
/// crop's (see random_affine); pixels that fall outside the image are 0.
torch::Tensor crop_flip_resize(const torch::Tensor& images, const CropBoxes& boxes,
                               const torch::Tensor& flip, int64_t size,
                               const torch::Tensor& affine = torch::Tensor());

struct AffineRange {
  double rotate = 0;                         ///< degrees, uniform in [-rotate, rotate]
  double shear = 0;                          ///< degrees of x shear, uniform in [-shear, shear]
  double translate = 0;                      ///< shift per axis, fraction of the side, in [-t, t]
  std::pair<double, double> zoom{1.0, 1.0};  ///< scale factor (> 1 enlarges the content)
};

/// torchvision's RandomAffine, batched: per image a rotation, x shear, zoom and shift drawn from
/// `range` where `mask` ([B] bool) is true, the identity elsewhere. Returns the inverse maps
/// [B, 2, 3] (output coordinates to input coordinates, normalised) that crop_flip_resize takes.
/// Always draws 5 numbers per image, so the random stream does not depend on `mask`.
torch::Tensor random_affine(const torch::Tensor& mask, const AffineRange& range,
                            at::Generator& gen);

/// Random erasing (Zhong et al.; torchvision's RandomErasing with value 0): where `mask` [B] is
/// true, a rectangle of area fraction in `scale` and aspect ratio in `ratio` set to 0.
torch::Tensor random_erase(const torch::Tensor& images, const torch::Tensor& mask,
                           std::pair<double, double> scale, std::pair<double, double> ratio,
                           at::Generator& gen);

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
