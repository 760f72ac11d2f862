#include "dcacn/augment/transforms.h"

#include <torch/nn/functional/conv.h>
#include <torch/nn/functional/padding.h>
#include <torch/nn/functional/vision.h>

#include <cmath>

namespace dcacn {
namespace {

namespace F = torch::nn::functional;

// [B] -> [B, 1, 1, 1] for broadcasting over images.
torch::Tensor per_image(const torch::Tensor& v) { return v.view({-1, 1, 1, 1}); }

void check_images(const torch::Tensor& images, const char* what) {
  TORCH_CHECK(images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3), what,
              ": expected [B, 1 or 3, H, W] images, got ", images.sizes());
  TORCH_CHECK(images.is_floating_point(), what, ": expected float images in [0, 1], got ",
              images.scalar_type());
}

torch::Tensor select(const torch::Tensor& mask, const torch::Tensor& a, const torch::Tensor& b) {
  return torch::where(per_image(mask), a, b);
}

// Hue of RGB pixels as a fraction of a turn, [B, H, W], plus the per-pixel max and
// max - min (value and chroma), following the HSV definition torchvision uses.
struct HueChroma {
  torch::Tensor hue, max, chroma;
};
HueChroma hue_chroma(const torch::Tensor& rgb) {
  const torch::Tensor r = rgb.select(1, 0), g = rgb.select(1, 1), b = rgb.select(1, 2);
  const auto [maxc, argmax] = rgb.max(1);
  const torch::Tensor chroma = maxc - rgb.amin(1);
  const torch::Tensor safe = chroma.clamp_min(1e-12);
  // Sector by the largest channel (first of ties, as in the usual if/else chain).
  torch::Tensor hue =
      torch::where(argmax == 0, (g - b) / safe,
                   torch::where(argmax == 1, (b - r) / safe + 2, (r - g) / safe + 4));
  hue = torch::remainder(hue * (1.0 / 6.0), 1.0);
  return {hue, maxc, chroma};
}

}  // namespace

torch::Tensor uniform(int64_t n, double low, double high, at::Generator& gen,
                      const torch::Device& device) {
  return (torch::rand({n}, gen) * (high - low) + low).to(device);
}

torch::Tensor coin(int64_t n, double p, at::Generator& gen, const torch::Device& device) {
  return (torch::rand({n}, gen) < p).to(device);
}

CropBoxes sample_crop_boxes(int64_t batch, int64_t height, int64_t width,
                            std::pair<double, double> scale, std::pair<double, double> ratio,
                            at::Generator& gen, const torch::Device& device) {
  TORCH_CHECK(0 < scale.first && scale.first <= scale.second && scale.second <= 1,
              "crop scale range must satisfy 0 < min <= max <= 1, got ", scale.first, "-",
              scale.second);
  TORCH_CHECK(0 < ratio.first && ratio.first <= ratio.second,
              "crop ratio range is invalid: ", ratio.first, "-", ratio.second);
  constexpr int64_t kTries = 10;
  const double area = static_cast<double>(height * width);
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  const torch::Tensor target =
      torch::rand({batch, kTries}, gen, opts) * (scale.second - scale.first) * area +
      scale.first * area;
  const double log_lo = std::log(ratio.first), log_hi = std::log(ratio.second);
  const torch::Tensor aspect =
      torch::exp(torch::rand({batch, kTries}, gen, opts) * (log_hi - log_lo) + log_lo);
  const torch::Tensor w = torch::round(torch::sqrt(target * aspect));
  const torch::Tensor h = torch::round(torch::sqrt(target / aspect));
  const torch::Tensor fits = (w > 0) & (h > 0) & (w <= width) & (h <= height);
  // First fitting try per image (argmax of a bool picks the first true; none -> fallback).
  const torch::Tensor first = fits.to(torch::kInt64).argmax(1, /*keepdim=*/true);
  const torch::Tensor any = fits.any(1);
  torch::Tensor bw = w.gather(1, first).squeeze(1), bh = h.gather(1, first).squeeze(1);
  // Fallback: the whole image cut to the nearest allowed aspect ratio, centred.
  const double in_ratio = static_cast<double>(width) / height;
  double fw = width, fh = height;
  if (in_ratio < ratio.first) {
    fh = std::round(fw / ratio.first);
  } else if (in_ratio > ratio.second) {
    fw = std::round(fh * ratio.second);
  }
  bw = torch::where(any, bw, torch::full_like(bw, fw));
  bh = torch::where(any, bh, torch::full_like(bh, fh));
  // Offsets uniform over the valid positions (torchvision draws integers in [0, W - w]).
  const torch::Tensor u = torch::rand({batch, 2}, gen, opts);
  torch::Tensor x0 = torch::floor(u.select(1, 0) * (width - bw + 1));
  torch::Tensor y0 = torch::floor(u.select(1, 1) * (height - bh + 1));
  x0 = torch::where(any, x0, torch::floor((width - bw) / 2));
  y0 = torch::where(any, y0, torch::floor((height - bh) / 2));
  const auto to = [&](const torch::Tensor& t) { return t.to(device, torch::kFloat32); };
  return {to(x0), to(y0), to(bw), to(bh)};
}

torch::Tensor crop_flip_resize(const torch::Tensor& images, const CropBoxes& boxes,
                               const torch::Tensor& flip, int64_t size) {
  check_images(images, "crop_flip_resize");
  const int64_t b = images.size(0);
  const double height = static_cast<double>(images.size(2));
  const double width = static_cast<double>(images.size(3));
  // Output pixel centres map linearly onto the box; in grid_sample's normalised coordinates
  // (align_corners = false) pixel edges 0 and W are -1 and +1.
  torch::Tensor sx = boxes.w / width;
  if (flip.defined()) sx = torch::where(flip, -sx, sx);
  const torch::Tensor sy = boxes.h / height;
  const torch::Tensor cx = (2 * boxes.x0 + boxes.w) / width - 1;
  const torch::Tensor cy = (2 * boxes.y0 + boxes.h) / height - 1;
  const torch::Tensor zeros = torch::zeros_like(sx);
  const torch::Tensor theta =
      torch::stack({torch::stack({sx, zeros, cx}, 1), torch::stack({zeros, sy, cy}, 1)}, 1)
          .to(images.scalar_type());
  const torch::Tensor grid = F::affine_grid(theta, {b, images.size(1), size, size}, false);
  return F::grid_sample(images, grid,
                        F::GridSampleFuncOptions()
                            .mode(torch::kBilinear)
                            .padding_mode(torch::kBorder)
                            .align_corners(false));
}

torch::Tensor luminance(const torch::Tensor& images) {
  if (images.size(1) == 1) return images;
  const torch::Tensor weights =
      torch::tensor({0.299f, 0.587f, 0.114f}, images.options()).view({1, 3, 1, 1});
  return (images * weights).sum(1, /*keepdim=*/true);
}

torch::Tensor adjust_brightness(const torch::Tensor& images, const torch::Tensor& factor) {
  check_images(images, "adjust_brightness");
  return (images * per_image(factor)).clamp_(0, 1);
}

torch::Tensor adjust_contrast(const torch::Tensor& images, const torch::Tensor& factor) {
  check_images(images, "adjust_contrast");
  const torch::Tensor f = per_image(factor);
  const torch::Tensor mean = luminance(images).mean({1, 2, 3}, /*keepdim=*/true);
  // mean + (x - mean) f = x f + mean (1 - f), as one fused multiply-add.
  return torch::addcmul(mean * (1 - f), images, f).clamp_(0, 1);
}

torch::Tensor adjust_saturation(const torch::Tensor& images, const torch::Tensor& factor) {
  check_images(images, "adjust_saturation");
  if (images.size(1) == 1) return images;
  const torch::Tensor f = per_image(factor);
  return torch::addcmul(luminance(images) * (1 - f), images, f).clamp_(0, 1);
}

torch::Tensor adjust_hue(const torch::Tensor& images, const torch::Tensor& shift) {
  check_images(images, "adjust_hue");
  if (images.size(1) == 1) return images;
  const HueChroma hc = hue_chroma(images);
  const torch::Tensor hue = hc.hue + shift.view({-1, 1, 1});
  // HSV back to RGB with s * v = chroma: channel n (R, G, B: n = 5, 3, 1) is
  // max - chroma * clamp(min(k, 4 - k), 0, 1) with k = (n + 6 hue) mod 6, for all three at once.
  const torch::Tensor n = torch::tensor({5.0f, 3.0f, 1.0f}, images.options()).view({1, 3, 1, 1});
  const torch::Tensor k = torch::remainder(hue.unsqueeze(1) * 6.0 + n, 6.0);
  const torch::Tensor m = torch::minimum(k, 4.0 - k).clamp_(0.0, 1.0);
  return (hc.max.unsqueeze(1) - hc.chroma.unsqueeze(1) * m).clamp_(0, 1);
}

torch::Tensor to_grayscale(const torch::Tensor& images, const torch::Tensor& mask) {
  check_images(images, "to_grayscale");
  if (images.size(1) == 1) return images;
  return select(mask, luminance(images).expand_as(images), images);
}

torch::Tensor gaussian_blur(const torch::Tensor& images, const torch::Tensor& sigma,
                            int64_t kernel_size) {
  check_images(images, "gaussian_blur");
  TORCH_CHECK(kernel_size >= 1 && kernel_size % 2 == 1, "blur kernel size must be odd, got ",
              kernel_size);
  const int64_t b = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const int64_t half = kernel_size / 2;
  TORCH_CHECK(half < h && half < w, "blur kernel ", kernel_size, " is too large for ", h, "x", w,
              " images");
  const torch::Tensor offsets =
      torch::arange(-half, half + 1, images.options()).view({1, kernel_size});
  torch::Tensor kernel = torch::exp(-offsets.pow(2) / (2 * sigma.view({-1, 1}).pow(2)));
  kernel = kernel / kernel.sum(1, true);  // [B, k]
  // Separable blur as a grouped convolution: one group per (image, channel).
  const torch::Tensor per_channel = kernel.repeat_interleave(c, 0);  // [B*C, k]
  torch::Tensor x = images.reshape({1, b * c, h, w});
  x = F::pad(x, F::PadFuncOptions({half, half, half, half}).mode(torch::kReflect));
  const auto grouped = F::Conv2dFuncOptions().groups(b * c);
  x = F::conv2d(x, per_channel.view({b * c, 1, 1, kernel_size}), grouped);
  x = F::conv2d(x, per_channel.view({b * c, 1, kernel_size, 1}), grouped);
  return x.view({b, c, h, w});
}

torch::Tensor solarize(const torch::Tensor& images, const torch::Tensor& mask, double threshold) {
  check_images(images, "solarize");
  return torch::where(per_image(mask) & (images >= threshold), 1 - images, images);
}

torch::Tensor eval_transform(const torch::Tensor& images, int64_t size) {
  TORCH_CHECK(images.dim() == 4, "eval_transform: expected [B, C, H, W], got ", images.sizes());
  torch::Tensor x = images.to(torch::kFloat32) / 255.0f;
  const int64_t h = x.size(2), w = x.size(3);
  if (h == size && w == size) return x;
  const int64_t side = std::min(h, w);
  const torch::Tensor full = torch::full({x.size(0)}, static_cast<float>(side), x.options());
  CropBoxes centre{torch::full_like(full, static_cast<float>((w - side) / 2)),
                   torch::full_like(full, static_cast<float>((h - side) / 2)), full, full};
  return crop_flip_resize(x, centre, torch::Tensor(), size);
}

}  // namespace dcacn
