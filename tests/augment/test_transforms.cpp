#include <ATen/CPUGeneratorImpl.h>

#include "../test_util.h"
#include "dcacn/augment/transforms.h"

namespace dcacn {
namespace {

class TransformsTest : public test::TempDirTest {
 protected:
  at::Generator gen_ = at::detail::createCPUGenerator(3);
  torch::Device cpu_{torch::kCPU};
};

TEST_F(TransformsTest, CropAreasAndPositionsStayInRange) {
  const int64_t n = 10000;
  const CropBoxes b = sample_crop_boxes(n, 32, 40, {0.2, 0.6}, {3.0 / 4, 4.0 / 3}, gen_, cpu_);
  const torch::Tensor area = b.w * b.h / (32.0 * 40.0);
  // Box sides are rounded to whole pixels, which moves the area by at most a few percent.
  EXPECT_GE(area.min().item<float>(), 0.2f - 0.03f);
  EXPECT_LE(area.max().item<float>(), 0.6f + 0.03f);
  EXPECT_NEAR(area.mean().item<float>(), 0.4f, 0.02f);  // area fraction drawn uniformly
  EXPECT_GE(b.x0.min().item<float>(), 0.0f);
  EXPECT_GE(b.y0.min().item<float>(), 0.0f);
  EXPECT_LE((b.x0 + b.w).max().item<float>(), 40.0f);
  EXPECT_LE((b.y0 + b.h).max().item<float>(), 32.0f);
  const torch::Tensor ratio = b.w / b.h;
  EXPECT_GE(ratio.min().item<float>(), 0.75f * 0.85f);  // again up to pixel rounding
  EXPECT_LE(ratio.max().item<float>(), 4.0f / 3.0f * 1.15f);
}

TEST_F(TransformsTest, FullScaleUnitRatioCropIsTheResizedImage) {
  torch::Tensor x = torch::rand({3, 3, 20, 20});
  const CropBoxes b = sample_crop_boxes(3, 20, 20, {1.0, 1.0}, {1.0, 1.0}, gen_, cpu_);
  EXPECT_TRUE(b.w.eq(20).all().item<bool>());
  EXPECT_TRUE(b.x0.eq(0).all().item<bool>());
  // Same size: bilinear sampling at the pixel centres returns the pixels themselves.
  EXPECT_TRUE(torch::allclose(crop_flip_resize(x, b, torch::Tensor(), 20), x, 1e-5, 1e-6));
}

TEST_F(TransformsTest, CropSelectsTheBoxAndFlipMirrors) {
  // Pixel value = column index, so the crop's columns can be read back.
  torch::Tensor x = torch::arange(8).to(torch::kFloat32).repeat({1, 1, 8, 1}) / 8;  // [1,1,8,8]
  CropBoxes box{torch::tensor({2.0f}), torch::tensor({0.0f}), torch::tensor({4.0f}),
                torch::tensor({8.0f}), torch::Tensor()};
  torch::Tensor crop = crop_flip_resize(x, box, torch::Tensor(), 4);
  EXPECT_TRUE(torch::allclose(crop[0][0][0], torch::tensor({2.f, 3.f, 4.f, 5.f}) / 8, 1e-5, 1e-6));
  torch::Tensor flipped = crop_flip_resize(x, box, torch::tensor({true}), 4);
  EXPECT_TRUE(
      torch::allclose(flipped[0][0][0], torch::tensor({5.f, 4.f, 3.f, 2.f}) / 8, 1e-5, 1e-6));
}

TEST_F(TransformsTest, AnIdentityAffineMapChangesNothingAndAZoomEnlargesTheCentre) {
  torch::Tensor x = torch::rand({4, 1, 16, 16});
  const CropBoxes full = sample_crop_boxes(4, 16, 16, {1.0, 1.0}, {1.0, 1.0}, gen_, cpu_);
  // Mask off: identity maps whatever the ranges.
  AffineRange wild;
  wild.rotate = 90;
  wild.shear = 30;
  wild.translate = 0.3;
  wild.zoom = {0.5, 2};
  const torch::Tensor off = random_affine(torch::zeros({4}, torch::kBool), wild, gen_);
  EXPECT_TRUE(torch::allclose(crop_flip_resize(x, full, torch::Tensor(), 16, off), x, 1e-5, 1e-6));
  // Zoom 2 exactly, nothing else: the view is the central 8 x 8 box, resized.
  AffineRange zoom;
  zoom.zoom = {2.0, 2.0};
  const torch::Tensor z = random_affine(torch::ones({4}, torch::kBool), zoom, gen_);
  CropBoxes centre{torch::full({4}, 4.0f), torch::full({4}, 4.0f), torch::full({4}, 8.0f),
                   torch::full({4}, 8.0f), torch::Tensor()};
  EXPECT_TRUE(torch::allclose(crop_flip_resize(x, full, torch::Tensor(), 16, z),
                              crop_flip_resize(x, centre, torch::Tensor(), 16), 1e-5, 1e-6));
}

TEST_F(TransformsTest, AffineMapsStayInTheirRanges) {
  AffineRange r;
  r.rotate = 30;
  r.translate = 0.1;
  r.zoom = {0.8, 1.1};
  const int64_t n = 2000;
  const torch::Tensor m = random_affine(torch::ones({n}, torch::kBool), r, gen_).to(torch::kDouble);
  const torch::Tensor a = m.narrow(2, 0, 2);  // [n, 2, 2]: (zoom R)^-1
  // Without shear the linear part is a rotation over the zoom: A A^T = I / zoom^2.
  const torch::Tensor aat = torch::bmm(a, a.transpose(1, 2));
  const torch::Tensor inv_zoom2 = aat.select(1, 0).select(1, 0);
  EXPECT_TRUE(
      torch::allclose(aat.select(1, 0).select(1, 1), torch::zeros({n}, torch::kDouble), 0, 1e-6));
  EXPECT_TRUE(torch::allclose(aat.select(1, 1).select(1, 1), inv_zoom2, 1e-6, 1e-6));
  const torch::Tensor zoom = 1 / inv_zoom2.sqrt();
  EXPECT_GE(zoom.min().item<double>(), 0.8 - 1e-6);
  EXPECT_LE(zoom.max().item<double>(), 1.1 + 1e-6);
  EXPECT_NEAR(zoom.mean().item<double>(), 0.95, 0.01);  // uniform in 0.8-1.1
  // The angle: atan2 of the rotation part, uniform in +-30 degrees.
  const torch::Tensor angle =
      torch::atan2(a.select(1, 0).select(1, 1), a.select(1, 0).select(1, 0)) * 180 / M_PI;
  EXPECT_LE(angle.abs().max().item<double>(), 30 + 1e-4);
  EXPECT_GT(angle.abs().max().item<double>(), 28);
  EXPECT_NEAR(angle.mean().item<double>(), 0, 1.0);
  // The shift: the forward map's translation t = -A^-1 offset, up to 2 * 0.1 normalised.
  const torch::Tensor t = -torch::bmm(torch::inverse(a), m.narrow(2, 2, 1)).squeeze(2);
  EXPECT_LE(t.abs().max().item<double>(), 0.2 + 1e-5);
  EXPECT_GT(t.abs().max().item<double>(), 0.19);
  // A shear keeps the area (determinant 1 / zoom^2 still).
  AffineRange s;
  s.shear = 20;
  const torch::Tensor sh = random_affine(torch::ones({50}, torch::kBool), s, gen_);
  EXPECT_TRUE(torch::allclose(torch::det(sh.narrow(2, 0, 2)), torch::ones({50}), 1e-4, 1e-5));
  EXPECT_GT((sh.select(1, 0).select(1, 1) - 0).abs().max().item<double>(), 0.1);
}

TEST_F(TransformsTest, RandomErasingBlanksOneRectangleOfTheSelectedImages) {
  const int64_t n = 400, side = 20;
  const torch::Tensor x = torch::ones({n, 1, side, side});
  const torch::Tensor mask = torch::arange(n) % 2 == 0;
  const torch::Tensor y = random_erase(x, mask, {0.02, 0.33}, {0.3, 3.3}, gen_);
  const torch::Tensor erased = (y == 0).sum({1, 2, 3}).to(torch::kDouble) / (side * side);
  // Unselected images are untouched; selected ones lose 2%-33% of the area (the box sides are
  // rounded to pixels, as torchvision rounds them: a little more or less).
  EXPECT_TRUE(erased.index({torch::logical_not(mask)}).eq(0).all().item<bool>());
  const torch::Tensor chosen = erased.index({mask});
  EXPECT_GE(chosen.min().item<double>(), 0.01);
  EXPECT_LE(chosen.max().item<double>(), 0.38);
  EXPECT_NEAR(chosen.mean().item<double>(), (0.02 + 0.33) / 2, 0.04);
  // The erased pixels form one rectangle: their count is rows x columns touched.
  for (int64_t i = 0; i < 10; i += 2) {
    const torch::Tensor zero = y[i][0] == 0;
    const int64_t rows = zero.any(1).sum().item<int64_t>();
    const int64_t cols = zero.any(0).sum().item<int64_t>();
    EXPECT_EQ(zero.sum().item<int64_t>(), rows * cols) << "image " << i;
  }
}

TEST_F(TransformsTest, BrightnessAndContrastMoveMeanAndSpread) {
  torch::Tensor x = torch::rand({4, 3, 16, 16}) * 0.5 + 0.25;  // away from the clamp limits
  const torch::Tensor up = torch::full({4}, 1.3f), down = torch::full({4}, 0.7f);
  EXPECT_GT(adjust_brightness(x, up).mean().item<float>(), x.mean().item<float>() + 0.05f);
  EXPECT_LT(adjust_brightness(x, down).mean().item<float>(), x.mean().item<float>() - 0.05f);
  EXPECT_GT(adjust_contrast(x, up).std().item<float>(), x.std().item<float>() * 1.2f);
  EXPECT_LT(adjust_contrast(x, down).std().item<float>(), x.std().item<float>() * 0.8f);
  // Contrast keeps the mean luminance.
  EXPECT_NEAR(luminance(adjust_contrast(x, down)).mean().item<float>(),
              luminance(x).mean().item<float>(), 1e-4f);
}

TEST_F(TransformsTest, SaturationZeroAndGrayscaleGiveEqualChannels) {
  torch::Tensor x = torch::rand({2, 3, 8, 8});
  for (const auto& y :
       {adjust_saturation(x, torch::zeros({2})), to_grayscale(x, torch::tensor({true, true}))}) {
    EXPECT_TRUE(torch::allclose(y.select(1, 0), y.select(1, 1)));
    EXPECT_TRUE(torch::allclose(y.select(1, 1), y.select(1, 2)));
  }
  // Only the selected image changes.
  torch::Tensor partial = to_grayscale(x, torch::tensor({false, true}));
  EXPECT_TRUE(partial[0].equal(x[0]));
}

TEST_F(TransformsTest, HueRotationMapsPrimariesIntoEachOther) {
  // Pure red, green, blue pixels; a third of a turn sends red -> green -> blue -> red.
  torch::Tensor rgb = torch::eye(3).view({3, 3, 1, 1});
  torch::Tensor shifted = adjust_hue(rgb, torch::full({3}, 1.0f / 3));
  EXPECT_TRUE(torch::allclose(shifted, torch::eye(3).roll(1, 1).view({3, 3, 1, 1}), 1e-5, 1e-5));
  // Zero shift is the identity on random colours (HSV round trip).
  torch::Tensor x = torch::rand({2, 3, 5, 5});
  EXPECT_TRUE(torch::allclose(adjust_hue(x, torch::zeros({2})), x, 1e-5, 1e-5));
}

TEST_F(TransformsTest, OneChannelColourStepsAreIdentities) {
  torch::Tensor x = torch::rand({2, 1, 6, 6});
  EXPECT_TRUE(adjust_saturation(x, torch::full({2}, 0.1f)).equal(x));
  EXPECT_TRUE(adjust_hue(x, torch::full({2}, 0.3f)).equal(x));
  EXPECT_TRUE(to_grayscale(x, torch::tensor({true, true})).equal(x));
}

TEST_F(TransformsTest, BlurRemovesHighFrequencyEnergyAndKeepsTheMean) {
  torch::Tensor x = torch::rand({2, 3, 24, 24});
  torch::Tensor y = gaussian_blur(x, torch::full({2}, 1.5f), 7);
  auto hf = [](const torch::Tensor& t) {  // energy of neighbouring-pixel differences
    return (t.slice(3, 1) - t.slice(3, 0, -1)).pow(2).mean().item<float>() +
           (t.slice(2, 1) - t.slice(2, 0, -1)).pow(2).mean().item<float>();
  };
  EXPECT_LT(hf(y), 0.3f * hf(x));
  EXPECT_NEAR(y.mean().item<float>(), x.mean().item<float>(), 0.01f);
  // A tiny sigma leaves the image as it was.
  EXPECT_TRUE(torch::allclose(gaussian_blur(x, torch::full({2}, 0.05f), 7), x, 1e-5, 1e-6));
}

TEST_F(TransformsTest, SolarizeInvertsBrightPixelsOfSelectedImages) {
  torch::Tensor x = torch::tensor({0.2f, 0.7f}).view({1, 1, 1, 2}).repeat({2, 1, 1, 1});
  torch::Tensor y = solarize(x, torch::tensor({true, false}));
  EXPECT_TRUE(torch::allclose(y[0].flatten(), torch::tensor({0.2f, 0.3f})));
  EXPECT_TRUE(y[1].equal(x[1]));
}

TEST_F(TransformsTest, EvalTransformCentreCropsAndResizes) {
  torch::Tensor images = torch::randint(0, 256, {2, 3, 10, 14}).to(torch::kUInt8);
  torch::Tensor y = eval_transform(images, 10);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, 10, 10}));
  // 10x14 -> central 10x10 square, same size: the crop's pixels exactly.
  EXPECT_TRUE(torch::allclose(y, images.slice(3, 2, 12).to(torch::kFloat32) / 255, 1e-5, 1e-6));
  EXPECT_EQ(eval_transform(images, 5).sizes(), (std::vector<int64_t>{2, 3, 5, 5}));
}

}  // namespace
}  // namespace dcacn
