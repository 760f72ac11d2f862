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
  return {to(x0), to(y0), to(bw), to(bh), any.to(device)};
}

torch::Tensor crop_flip_resize(const torch::Tensor& images, const CropBoxes& boxes,
                               const torch::Tensor& flip, int64_t size,
                               const torch::Tensor& affine) {
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
  torch::Tensor theta;
  if (affine.defined()) {
    TORCH_CHECK(
        affine.dim() == 3 && affine.size(0) == b && affine.size(1) == 2 && affine.size(2) == 3,
        "crop_flip_resize: affine maps must be [", b, ", 2, 3], got ", affine.sizes());
    // The crop's map after the affine one: [sx 0 cx; 0 sy cy] [A t; 0 0 1].
    const torch::Tensor a = affine.to(sx.device(), torch::kFloat32);
    const torch::Tensor scale = torch::stack({sx, sy}, 1).unsqueeze(2);  // [B, 2, 1]
    const torch::Tensor offset = torch::stack({cx, cy}, 1);
    theta = a * scale;
    theta.select(2, 2).add_(offset);
  } else {
    const torch::Tensor zeros = torch::zeros_like(sx);
    theta = torch::stack({torch::stack({sx, zeros, cx}, 1), torch::stack({zeros, sy, cy}, 1)}, 1);
  }
  const torch::Tensor grid =
      F::affine_grid(theta.to(images.scalar_type()), {b, images.size(1), size, size}, false);
  // A crop alone samples inside the image only; an affine map may reach past its edges.
  auto options = F::GridSampleFuncOptions().mode(torch::kBilinear).align_corners(false);
  if (affine.defined()) {
    options.padding_mode(torch::kZeros);
  } else {
    options.padding_mode(torch::kBorder);
  }
  return F::grid_sample(images, grid, options);
}

torch::Tensor random_affine(const torch::Tensor& mask, const AffineRange& r, at::Generator& gen) {
  TORCH_CHECK(r.rotate >= 0 && r.shear >= 0 && r.shear < 90 && r.translate >= 0 &&
                  r.zoom.first > 0 && r.zoom.first <= r.zoom.second,
              "random_affine: invalid ranges (rotate ", r.rotate, ", shear ", r.shear,
              ", translate ", r.translate, ", zoom ", r.zoom.first, "-", r.zoom.second, ")");
  const int64_t b = mask.size(0);
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  const torch::Tensor u = torch::rand({b, 5}, gen, opts);
  const double deg = std::acos(-1.0) / 180.0;
  const torch::Tensor keep = mask.to(torch::kCPU).to(torch::kBool);
  auto draw = [&](int64_t col, double lo, double hi, double identity) {
    return torch::where(keep, u.select(1, col) * (hi - lo) + lo, torch::full({b}, identity, opts));
  };
  const torch::Tensor angle = draw(0, -r.rotate * deg, r.rotate * deg, 0);
  const torch::Tensor shear = draw(1, -r.shear * deg, r.shear * deg, 0);
  const torch::Tensor zoom = draw(2, r.zoom.first, r.zoom.second, 1);
  // A shift of t times the side is 2t in normalised coordinates.
  const torch::Tensor tx = draw(3, -2 * r.translate, 2 * r.translate, 0);
  const torch::Tensor ty = draw(4, -2 * r.translate, 2 * r.translate, 0);
  // Forward map p = zoom R(angle) S(shear) q + t; its inverse q = S^-1 R(-angle) (p - t) / zoom
  // with S^-1 R(-angle) = [c + k s, s - k c; -s, c], c = cos, s = sin, k = tan(shear).
  const torch::Tensor c = torch::cos(angle), s = torch::sin(angle), k = torch::tan(shear);
  const torch::Tensor a11 = (c + k * s) / zoom, a12 = (s - k * c) / zoom;
  const torch::Tensor a21 = -s / zoom, a22 = c / zoom;
  const torch::Tensor t1 = -(a11 * tx + a12 * ty), t2 = -(a21 * tx + a22 * ty);
  return torch::stack({torch::stack({a11, a12, t1}, 1), torch::stack({a21, a22, t2}, 1)}, 1)
      .to(mask.device(), torch::kFloat32);
}

torch::Tensor random_erase(const torch::Tensor& images, const torch::Tensor& mask,
                           std::pair<double, double> scale, std::pair<double, double> ratio,
                           at::Generator& gen) {
  check_images(images, "random_erase");
  const int64_t b = images.size(0), h = images.size(2), w = images.size(3);
  const torch::Device device = images.device();
  const CropBoxes box = sample_crop_boxes(b, h, w, scale, ratio, gen, device);
  // When no try fits, sample_crop_boxes falls back to the whole image; torchvision then
  // leaves the image alone, and so does this.
  const torch::Tensor on = mask.to(device).to(torch::kBool) & box.fitted;
  const auto opts = images.options();
  const torch::Tensor xs = torch::arange(w, opts).add_(0.5).view({1, 1, w});
  const torch::Tensor ys = torch::arange(h, opts).add_(0.5).view({1, h, 1});
  auto v = [&](const torch::Tensor& t) { return t.to(images.scalar_type()).view({-1, 1, 1}); };
  const torch::Tensor inside = (xs >= v(box.x0)) & (xs < v(box.x0 + box.w)) & (ys >= v(box.y0)) &
                               (ys < v(box.y0 + box.h)) & on.view({-1, 1, 1});
  return images.masked_fill(inside.unsqueeze(1), 0);
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
                   torch::full_like(full, static_cast<float>((h - side) / 2)), full, full,
                   torch::Tensor()};
  return crop_flip_resize(x, centre, torch::Tensor(), size);
}

}  // namespace dcacn
