#pragma once
// Multi-crop views (SwAV's idea, docs/design.md sections 1 and 5): N global views at full size
// with weaker augmentation and M local views at low resolution with stronger augmentation.

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "dcacn/augment/transforms.h"

namespace dcacn {

/// The random transforms of one view, applied in this order: resized crop, horizontal flip and
/// random affine map (one resampling), colour jitter with probability jitter_p (always in the
/// fixed order brightness, contrast, saturation, hue: per-image random order, as torchvision
/// draws it, does not batch), grayscale, Gaussian blur, solarisation, random erasing.
struct ViewSpec {
  int64_t size = 32;                          ///< output side in pixels
  std::pair<double, double> scale{0.2, 1.0};  ///< crop area as a fraction of the image
  std::pair<double, double> ratio{3.0 / 4.0, 4.0 / 3.0};
  double flip_p = 0.5;
  double jitter_p = 0.8;
  double brightness = 0.4;  ///< factor in [1 - b, 1 + b]
  double contrast = 0.4;
  double saturation = 0.4;
  double hue = 0.1;  ///< shift in [-hue, hue] turns
  double gray_p = 0.2;
  double blur_p = 0.0;
  std::pair<double, double> blur_sigma{0.1, 2.0};  ///< in pixels of the output view
  int64_t blur_kernel = 0;                         ///< odd; 0 picks about a tenth of the view size
  double solarize_p = 0.0;
  double affine_p = 0.0;  ///< probability of the random affine map below
  AffineRange affine;     ///< rotation, shear, shift and zoom of the resized crop
  double erase_p = 0.0;   ///< random erasing probability
  std::pair<double, double> erase_scale{0.02, 0.33};  ///< erased area fraction

  /// CC's colour jitter at strength s: ColorJitter(0.8 s, 0.8 s, 0.8 s, 0.2 s).
  ViewSpec& jitter_strength(double s);
  /// Everything random switched off (for tests and previews).
  ViewSpec& no_randomness();
};

struct MultiCropSpec {
  std::vector<ViewSpec> global;
  std::vector<ViewSpec> local;

  int64_t num_views() const { return static_cast<int64_t>(global.size() + local.size()); }
  /// "2x32 (scale 0.20-1.00) + 4x16 (scale 0.05-0.50)"
  std::string describe() const;
  /// The same views with every side times `factor` (rounded, at least 4 px) and blur sigmas
  /// and explicit blur kernels scaled alike: progressive resizing's cheaper early views.
  MultiCropSpec scaled(double factor) const;
};

/// Applies a views description to `defaults` (each dataset's own are in its DatasetInfo):
/// comma-separated groups COUNTxSIZE[@MIN-MAX], the first group global and the others local, e.g.
/// "2x32@0.2-1,4x16@0.05-0.5" or "2x28" (two views, no local ones). Each group may end with
/// :key=value strengths overriding the defaults: jitter (strength s), brightness and contrast
/// (amounts b: factors in 1 +- b), jitter_p, flip, gray, blur, solarize, affine, erase
/// (probabilities), sigma (MIN-MAX pixels), kernel (odd), ratio (crop aspect ratio, MIN-MAX or
/// one value), rotate and shear (degrees), translate (fraction of the side), zoom (MIN-MAX
/// scale), erase_scale (MIN-MAX area fraction), e.g.
/// "2x32:jitter=1:solarize=0.2,4x16:blur=0.8:ratio=1" or "2x28@0.5-1:affine=1:rotate=10".
/// Giving rotate, shear, translate or zoom to a group whose affine probability is 0 makes it 1.
/// Throws InputError.
MultiCropSpec parse_views(const std::string& text, const MultiCropSpec& defaults);

/// Draws the views of a batch. Reproducible: the same seed gives bit-identical views on the
/// same device, call after call; the state advances with each call.
class MultiCropAugmenter {
 public:
  MultiCropAugmenter(MultiCropSpec spec, uint64_t seed);
  /// uint8 (or float in [0, 1]) [B, C, H, W] on any device -> one float [B, C, s, s] batch in
  /// [0, 1] per view, globals first.
  std::vector<torch::Tensor> operator()(const torch::Tensor& images);
  /// The views of `spec` (e.g. spec().scaled(f)) from this augmenter's random stream.
  std::vector<torch::Tensor> operator()(const torch::Tensor& images, const MultiCropSpec& spec);
  /// One view of a float batch with this spec (exposed for tests and previews).
  torch::Tensor view(const torch::Tensor& images, const ViewSpec& spec);

  const MultiCropSpec& spec() const { return spec_; }
  at::Generator& generator() { return generator_; }

 private:
  MultiCropSpec spec_;
  at::Generator generator_;
};

}  // namespace dcacn
