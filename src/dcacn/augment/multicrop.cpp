#include "dcacn/augment/multicrop.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "dcacn/augment/transforms.h"
#include "dcacn/util/error.h"

namespace dcacn {

ViewSpec& ViewSpec::jitter_strength(double s) {
  brightness = contrast = saturation = 0.8 * s;
  hue = 0.2 * s;
  return *this;
}

ViewSpec& ViewSpec::no_randomness() {
  scale = {1.0, 1.0};
  ratio = {1.0, 1.0};
  flip_p = jitter_p = gray_p = blur_p = solarize_p = affine_p = erase_p = 0.0;
  return *this;
}

std::string MultiCropSpec::describe() const {
  std::ostringstream out;
  auto group = [&](const std::vector<ViewSpec>& views) {
    char buffer[96];
    std::snprintf(buffer, sizeof(buffer), "%zux%lld (scale %.2f-%.2f)", views.size(),
                  static_cast<long long>(views.front().size), views.front().scale.first,
                  views.front().scale.second);
    out << buffer;
  };
  if (!global.empty()) group(global);
  if (!local.empty()) {
    out << " + ";
    group(local);
  }
  return out.str();
}

namespace {

// One "key=value" strength of a view group.
void apply_view_option(const std::string& item, const std::string& group, ViewSpec* v) {
  const size_t eq = item.find('=');
  DCACN_CHECK(eq != std::string::npos, "view group '", group, "': option '", item,
              "' is not key=value");
  const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
  double a = 0, b = 0;
  char tail = 0;
  const int n = std::sscanf(value.c_str(), "%lf-%lf%c", &a, &b, &tail);
  const bool is_range = key == "sigma" || key == "ratio" || key == "zoom" || key == "erase_scale";
  DCACN_CHECK(n == 1 || (n == 2 && is_range), "view group '", group, "': bad value '", value,
              "' for ", key);
  auto probability = [&](double* field) {
    DCACN_CHECK(0 <= a && a <= 1, "view group '", group, "': ", key,
                " is a probability in 0..1, got ", value);
    *field = a;
  };
  if (key == "jitter") {
    DCACN_CHECK(a >= 0, "view group '", group, "': jitter strength must be >= 0, got ", value);
    v->jitter_strength(a);
  } else if (key == "jitter_p") {
    probability(&v->jitter_p);
  } else if (key == "flip") {
    probability(&v->flip_p);
  } else if (key == "gray") {
    probability(&v->gray_p);
  } else if (key == "blur") {
    probability(&v->blur_p);
  } else if (key == "solarize") {
    probability(&v->solarize_p);
  } else if (key == "sigma") {
    DCACN_CHECK(n == 2 && 0 < a && a <= b, "view group '", group,
                "': sigma needs a range MIN-MAX with 0 < MIN <= MAX, got ", value);
    v->blur_sigma = {a, b};
  } else if (key == "ratio") {
    if (n == 1) b = a;
    DCACN_CHECK(0 < a && a <= b, "view group '", group, "': ratio is an aspect-ratio range ",
                "MIN-MAX (or one value) with 0 < MIN <= MAX, got ", value);
    v->ratio = {a, b};
  } else if (key == "brightness" || key == "contrast") {
    DCACN_CHECK(0 <= a && a <= 1, "view group '", group, "': ", key,
                " is an amount in 0..1 (factors 1 - b .. 1 + b), got ", value);
    (key == "brightness" ? v->brightness : v->contrast) = a;
  } else if (key == "affine") {
    probability(&v->affine_p);
  } else if (key == "erase") {
    probability(&v->erase_p);
  } else if (key == "rotate" || key == "shear") {
    DCACN_CHECK(0 <= a && a < (key == "shear" ? 90 : 360.01), "view group '", group, "': ", key,
                " is a maximum angle in degrees (", key == "shear" ? "0..89" : "0..360", "), got ",
                value);
    (key == "rotate" ? v->affine.rotate : v->affine.shear) = a;
  } else if (key == "translate") {
    DCACN_CHECK(0 <= a && a <= 1, "view group '", group,
                "': translate is a fraction of the side in 0..1, got ", value);
    v->affine.translate = a;
  } else if (key == "zoom") {
    if (n == 1) b = a;
    DCACN_CHECK(0 < a && a <= b && b <= 10, "view group '", group,
                "': zoom is a scale range MIN-MAX (or one value) with 0 < MIN <= MAX <= 10, got ",
                value);
    v->affine.zoom = {a, b};
  } else if (key == "erase_scale") {
    DCACN_CHECK(n == 2 && 0 < a && a <= b && b < 1, "view group '", group,
                "': erase_scale is an area fraction range MIN-MAX with 0 < MIN <= MAX < 1, got ",
                value);
    v->erase_scale = {a, b};
  } else if (key == "kernel") {
    DCACN_CHECK(a >= 3 && static_cast<int64_t>(a) % 2 == 1, "view group '", group,
                "': kernel must be an odd size >= 3, got ", value);
    v->blur_kernel = static_cast<int64_t>(a);
  } else {
    throw InputError(c10::str("view group '", group, "': unknown option '", key,
                              "' (jitter, brightness, contrast, jitter_p, flip, gray, blur, ",
                              "solarize, sigma, kernel, ratio, affine, rotate, shear, translate, ",
                              "zoom, erase, erase_scale)"));
  }
}

}  // namespace

MultiCropSpec parse_views(const std::string& text, const MultiCropSpec& defaults) {
  MultiCropSpec out;
  std::stringstream groups(text);
  std::string group;
  bool first = true;
  while (std::getline(groups, group, ',')) {
    // COUNTxSIZE[@MIN-MAX] then optional :key=value strengths.
    std::stringstream parts(group);
    std::string head;
    std::getline(parts, head, ':');
    long long count = 0, size = 0;
    double lo = -1, hi = -1;
    char tail = 0;
    const int n = std::sscanf(head.c_str(), "%lldx%lld@%lf-%lf%c", &count, &size, &lo, &hi, &tail);
    DCACN_CHECK(n == 2 || n == 4, "bad view group '", group, "' in --views '", text,
                "': expected COUNTxSIZE[@MIN-MAX][:key=value...], e.g. "
                "2x32@0.2-1,4x16@0.05-0.5:blur=0.5");
    DCACN_CHECK(count >= 1 && count <= 32 && size >= 4 && size <= 1024, "view group '", group,
                "': count must be in 1..32 and size in 4..1024");
    const std::vector<ViewSpec>& base = first ? defaults.global : defaults.local;
    ViewSpec v = base.empty() ? (defaults.global.empty() ? ViewSpec() : defaults.global.front())
                              : base.front();
    v.size = size;
    if (n == 4) {
      DCACN_CHECK(0 < lo && lo <= hi && hi <= 1, "view group '", group,
                  "': the scale range must satisfy 0 < MIN <= MAX <= 1");
      v.scale = {lo, hi};
    }
    const AffineRange before = v.affine;
    for (std::string item; std::getline(parts, item, ':');) apply_view_option(item, group, &v);
    const AffineRange& after = v.affine;
    const bool affine_given = after.rotate != before.rotate || after.shear != before.shear ||
                              after.translate != before.translate || after.zoom != before.zoom;
    if (affine_given && v.affine_p == 0) v.affine_p = 1;
    (first ? out.global : out.local).insert((first ? out.global : out.local).end(), count, v);
    first = false;
  }
  DCACN_CHECK(!out.global.empty(), "--views '", text, "' describes no views");
  return out;
}

MultiCropSpec MultiCropSpec::scaled(double factor) const {
  TORCH_CHECK(factor > 0 && factor <= 1, "views can be scaled by a factor in (0, 1], got ", factor);
  MultiCropSpec out = *this;
  for (auto* group : {&out.global, &out.local}) {
    for (ViewSpec& v : *group) {
      v.size = std::max<int64_t>(4, std::llround(static_cast<double>(v.size) * factor));
      v.blur_sigma = {v.blur_sigma.first * factor, v.blur_sigma.second * factor};
      if (v.blur_kernel > 0) {
        // The nearest odd side, at least 3.
        v.blur_kernel = std::max<int64_t>(
            3, 2 * std::llround((static_cast<double>(v.blur_kernel) * factor - 1) / 2) + 1);
      }
    }
  }
  return out;
}

MultiCropAugmenter::MultiCropAugmenter(MultiCropSpec spec, uint64_t seed)
    : spec_(std::move(spec)), generator_(at::detail::createCPUGenerator(seed)) {}

torch::Tensor MultiCropAugmenter::view(const torch::Tensor& images, const ViewSpec& v) {
  const int64_t b = images.size(0);
  const torch::Device device = images.device();
  at::Generator& gen = generator_;
  const CropBoxes boxes =
      sample_crop_boxes(b, images.size(2), images.size(3), v.scale, v.ratio, gen, device);
  const torch::Tensor flip = coin(b, v.flip_p, gen, device);
  // Random numbers of transforms added later are drawn only when they are switched on, so that
  // views described without them stay as they were.
  torch::Tensor affine;
  if (v.affine_p > 0) affine = random_affine(coin(b, v.affine_p, gen, device), v.affine, gen);
  torch::Tensor x = crop_flip_resize(images, boxes, flip, v.size, affine);
  // Parameters are drawn for every image whether or not its coin comes up, so that the
  // random stream (and with it every later view) does not depend on the outcomes.
  const torch::Tensor jitter = coin(b, v.jitter_p, gen, device);
  const torch::Tensor one = torch::ones({b}, x.options());
  auto factor = [&](double amount) {
    return torch::where(jitter, uniform(b, std::max(0.0, 1 - amount), 1 + amount, gen, device),
                        one);
  };
  x = adjust_brightness(x, factor(v.brightness));
  x = adjust_contrast(x, factor(v.contrast));
  x = adjust_saturation(x, factor(v.saturation));
  const torch::Tensor hue =
      torch::where(jitter, uniform(b, -v.hue, v.hue, gen, device), torch::zeros_like(one));
  if (v.hue > 0 && x.size(1) == 3) x = adjust_hue(x, hue);
  x = to_grayscale(x, coin(b, v.gray_p, gen, device));
  const torch::Tensor blur = coin(b, v.blur_p, gen, device);
  const torch::Tensor sigma = uniform(b, v.blur_sigma.first, v.blur_sigma.second, gen, device);
  const torch::Tensor blurred = blur.nonzero().view(-1);
  if (blurred.numel() > 0) {
    int64_t kernel = v.blur_kernel > 0 ? v.blur_kernel : (v.size / 10) | 1;
    kernel = std::max<int64_t>(3, std::min(kernel, ((v.size - 1) / 2) * 2 - 1));
    // Only the images whose coin came up are blurred.
    x = x.index_copy(
        0, blurred,
        gaussian_blur(x.index_select(0, blurred), sigma.index_select(0, blurred), kernel));
  }
  const torch::Tensor sol = coin(b, v.solarize_p, gen, device);
  if (v.solarize_p > 0) x = solarize(x, sol);
  if (v.erase_p > 0) {
    x = random_erase(x, coin(b, v.erase_p, gen, device), v.erase_scale, {0.3, 3.3}, gen);
  }
  return x;
}

std::vector<torch::Tensor> MultiCropAugmenter::operator()(const torch::Tensor& images) {
  return (*this)(images, spec_);
}

std::vector<torch::Tensor> MultiCropAugmenter::operator()(const torch::Tensor& images,
                                                          const MultiCropSpec& spec) {
  TORCH_CHECK(images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3),
              "augment: expected [B, 1 or 3, H, W] images, got ", images.sizes());
  const torch::Tensor x = images.scalar_type() == torch::kUInt8
                              ? images.to(torch::kFloat32).div_(255.0f)
                              : images.to(torch::kFloat32);
  std::vector<torch::Tensor> views;
  for (const auto& v : spec.global) views.push_back(view(x, v));
  for (const auto& v : spec.local) views.push_back(view(x, v));
  return views;
}

}  // namespace dcacn
