#include "../test_util.h"
#include "dcacn/augment/multicrop.h"
#include "dcacn/augment/transforms.h"

namespace dcacn {
namespace {

// A spec from views text on top of ViewSpec's own defaults.
MultiCropSpec views_of(const std::string& text) { return parse_views(text, MultiCropSpec()); }

using test::expect_error_containing;

class MultiCropTest : public test::TempDirTest {
 protected:
  torch::Tensor images(int64_t b, int64_t c, int64_t s) {
    return torch::randint(0, 256, {b, c, s, s}).to(torch::kUInt8);
  }
};

TEST_F(MultiCropTest, NoRandomnessGivesTheResizedInput) {
  ViewSpec plain;
  plain.no_randomness();
  plain.size = 16;
  MultiCropSpec spec;
  spec.global = {plain};
  plain.size = 24;
  spec.local = {plain};
  MultiCropAugmenter augment(spec, 1);
  torch::Tensor x = images(3, 3, 24);
  auto views = augment(x);
  ASSERT_EQ(views.size(), 2u);
  EXPECT_TRUE(torch::allclose(views[0], eval_transform(x, 16), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(views[1], x.to(torch::kFloat32) / 255, 1e-5, 1e-6));
}

TEST_F(MultiCropTest, FlipFrequencyIsHalf) {
  ViewSpec v;
  v.no_randomness();
  v.flip_p = 0.5;
  v.size = 4;
  MultiCropSpec spec;
  spec.global = {v};
  MultiCropAugmenter augment(spec, 11);
  // Left half dark, right half bright: a flip puts the bright half on the left.
  torch::Tensor x = torch::cat({torch::zeros({10000, 1, 4, 2}), torch::ones({10000, 1, 4, 2})}, 3);
  torch::Tensor y = augment.view(x, v);
  const double flipped = (y.select(3, 0) > 0.5).all(2).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(flipped, 0.5, 0.02);
}

TEST_F(MultiCropTest, ViewsHaveTheirSizesAndStayInTheUnitInterval) {
  MultiCropSpec spec = views_of("2x32@0.2-1,4x16@0.05-0.5:blur=0.5");
  for (auto* group : {&spec.global, &spec.local}) {
    for (auto& v : *group) {
      v.solarize_p = 0.3;  // every step switched on
      v.blur_p = 0.5;
    }
  }
  MultiCropAugmenter augment(spec, 5);
  auto views = augment(images(16, 3, 32));
  ASSERT_EQ(views.size(), 6u);
  for (size_t i = 0; i < views.size(); ++i) {
    const int64_t s = i < 2 ? 32 : 16;
    EXPECT_EQ(views[i].sizes(), (std::vector<int64_t>{16, 3, s, s}));
    EXPECT_GE(views[i].min().item<float>(), 0.0f);
    EXPECT_LE(views[i].max().item<float>(), 1.0f);
  }
  // One channel works too.
  MultiCropAugmenter gray(views_of("2x28@0.2-1,2x14@0.05-0.5:blur=0.5"), 5);
  auto fm = gray(images(8, 1, 28));
  ASSERT_EQ(fm.size(), 4u);
  EXPECT_EQ(fm[2].sizes(), (std::vector<int64_t>{8, 1, 14, 14}));
}

TEST_F(MultiCropTest, ScaledViewsAreSmallerAndDrawnFromTheSameStream) {
  const MultiCropSpec spec = views_of("2x28@0.2-1,4x14@0.05-0.5:blur=0.5:sigma=0.2-2:kernel=5");
  const MultiCropSpec small = spec.scaled(0.7);
  ASSERT_EQ(small.global.size(), 2u);
  ASSERT_EQ(small.local.size(), 4u);
  EXPECT_EQ(small.global[0].size, 20);
  EXPECT_EQ(small.local[0].size, 10);
  EXPECT_DOUBLE_EQ(small.local[0].blur_sigma.first, 0.2 * 0.7);
  EXPECT_DOUBLE_EQ(small.local[0].blur_sigma.second, 2 * 0.7);
  EXPECT_EQ(small.local[0].blur_kernel, 3);  // 5 * 0.7 = 3.5: the nearest odd side
  EXPECT_EQ(small.local[0].scale, spec.local[0].scale);
  EXPECT_EQ(spec.scaled(0.01).local[0].size, 4);  // never under 4 px
  EXPECT_EQ(spec.scaled(1).describe(), spec.describe());
  EXPECT_THROW(spec.scaled(0), c10::Error);
  EXPECT_THROW(spec.scaled(1.5), c10::Error);
  // Drawing with the augmenter's own spec is the one-argument call, bit for bit.
  const torch::Tensor x = images(8, 1, 28);
  MultiCropAugmenter a(spec, 9), b(spec, 9);
  const auto va = a(x), vb = b(x, spec);
  for (size_t i = 0; i < va.size(); ++i) EXPECT_TRUE(va[i].equal(vb[i])) << "view " << i;
  const auto vs = a(x, small);
  ASSERT_EQ(vs.size(), 6u);
  EXPECT_EQ(vs[0].sizes(), (std::vector<int64_t>{8, 1, 20, 20}));
  EXPECT_EQ(vs[5].sizes(), (std::vector<int64_t>{8, 1, 10, 10}));
}

TEST_F(MultiCropTest, SeedsReproduceBitForBitAndDiffer) {
  const torch::Tensor x = images(8, 3, 32);
  const MultiCropSpec spec = views_of("2x32@0.2-1,4x16@0.05-0.5:blur=0.5");
  MultiCropAugmenter a(spec, 42), b(spec, 42), c(spec, 43);
  const auto va = a(x), vb = b(x), vc = c(x);
  for (size_t i = 0; i < va.size(); ++i) {
    EXPECT_TRUE(va[i].equal(vb[i])) << "view " << i;
    EXPECT_FALSE(va[i].equal(vc[i])) << "view " << i;
  }
  // The stream advances: a second batch differs from the first.
  EXPECT_FALSE(a(x)[0].equal(va[0]));
}

TEST_F(MultiCropTest, ViewSpecifications) {
  const MultiCropSpec d = views_of("2x32@0.2-1,4x16@0.05-0.5:blur=0.5");
  EXPECT_EQ(d.describe(), "2x32 (scale 0.20-1.00) + 4x16 (scale 0.05-0.50)");
  const MultiCropSpec p = parse_views("2x28@0.3-1,6x12@0.05-0.2", d);
  EXPECT_EQ(p.describe(), "2x28 (scale 0.30-1.00) + 6x12 (scale 0.05-0.20)");
  EXPECT_DOUBLE_EQ(p.local[0].blur_p, d.local[0].blur_p);  // strengths kept
  EXPECT_EQ(parse_views("2x32", d).num_views(), 2);
  expect_error_containing([&] { parse_views("2by32", d); },
                          {"bad view group '2by32'", "COUNTxSIZE"});
  expect_error_containing([&] { parse_views("2x32@0.5-0.1", d); }, {"0 < MIN <= MAX <= 1"});
  // Strength overrides per group.
  const MultiCropSpec s =
      parse_views("2x32:jitter=1:solarize=0.2,4x16@0.1-0.3:blur=0.8:sigma=0.5-1", d);
  EXPECT_DOUBLE_EQ(s.global[1].brightness, 0.8);
  EXPECT_DOUBLE_EQ(s.global[1].hue, 0.2);
  EXPECT_DOUBLE_EQ(s.global[0].solarize_p, 0.2);
  EXPECT_DOUBLE_EQ(s.local[3].blur_p, 0.8);
  EXPECT_DOUBLE_EQ(s.local[0].blur_sigma.second, 1.0);
  EXPECT_DOUBLE_EQ(s.local[0].scale.first, 0.1);
  expect_error_containing([&] { parse_views("2x32:gray=1.5", d); }, {"gray is a probability"});
  expect_error_containing([&] { parse_views("2x32:sharpen=1", d); }, {"unknown option 'sharpen'"});
  expect_error_containing([&] { parse_views("2x32:kernel=4", d); }, {"odd size"});
  // Aspect ratio: a range or one value.
  const MultiCropSpec r = parse_views("2x32:ratio=1,4x16:ratio=0.5-2", d);
  EXPECT_DOUBLE_EQ(r.global[0].ratio.first, 1.0);
  EXPECT_DOUBLE_EQ(r.global[1].ratio.second, 1.0);
  EXPECT_DOUBLE_EQ(r.local[2].ratio.first, 0.5);
  EXPECT_DOUBLE_EQ(r.local[2].ratio.second, 2.0);
  expect_error_containing([&] { parse_views("2x32:ratio=2-1", d); }, {"ratio", "2-1"});
  // Affine map, erasing and separate brightness / contrast.
  const MultiCropSpec a = parse_views(
      "2x28@0.5-1:rotate=15:zoom=0.8-1.1:translate=0.1:brightness=0.5:contrast=0.3,"
      "4x14:affine=0.5:shear=10:erase=0.4:erase_scale=0.05-0.2",
      d);
  EXPECT_DOUBLE_EQ(a.global[0].affine_p, 1.0);  // a range given without affine= switches it on
  EXPECT_DOUBLE_EQ(a.global[0].affine.rotate, 15);
  EXPECT_DOUBLE_EQ(a.global[0].affine.zoom.first, 0.8);
  EXPECT_DOUBLE_EQ(a.global[0].affine.translate, 0.1);
  EXPECT_DOUBLE_EQ(a.global[0].brightness, 0.5);
  EXPECT_DOUBLE_EQ(a.global[0].contrast, 0.3);
  EXPECT_DOUBLE_EQ(a.global[0].saturation, d.global[0].saturation);
  EXPECT_DOUBLE_EQ(a.local[0].affine_p, 0.5);
  EXPECT_DOUBLE_EQ(a.local[0].affine.shear, 10);
  EXPECT_DOUBLE_EQ(a.local[0].erase_p, 0.4);
  EXPECT_DOUBLE_EQ(a.local[0].erase_scale.second, 0.2);
  EXPECT_DOUBLE_EQ(d.global[0].affine_p, 0.0);  // off unless asked for
  expect_error_containing([&] { parse_views("2x32:shear=95", d); }, {"shear", "0..89"});
  expect_error_containing([&] { parse_views("2x32:zoom=1.2-0.9", d); }, {"zoom", "1.2-0.9"});
  expect_error_containing([&] { parse_views("2x32:erase_scale=0.5", d); }, {"erase_scale"});
  expect_error_containing([&] { parse_views("2x32:translate=2", d); }, {"translate", "0..1"});
}

TEST_F(MultiCropTest, AffineAndErasingViewsAreSeededAndLeaveOtherSpecsAlone) {
  const torch::Tensor x = images(16, 1, 28);
  const MultiCropSpec plain = views_of("2x28@0.4-1,2x14@0.1-0.5");
  const MultiCropSpec extra =
      views_of("2x28@0.4-1:rotate=20:erase=0.5,2x14@0.1-0.5:zoom=0.8-1.2:translate=0.1");
  MultiCropAugmenter a(extra, 7), b(extra, 7), p(plain, 7), q(plain, 7);
  const auto va = a(x), vb = b(x), vp = p(x), vq = q(x);
  for (size_t i = 0; i < va.size(); ++i) {
    EXPECT_TRUE(va[i].equal(vb[i])) << "view " << i;
    EXPECT_FALSE(va[i].equal(vp[i])) << "view " << i;
    EXPECT_TRUE(vp[i].equal(vq[i])) << "view " << i;
    EXPECT_GE(va[i].min().item<float>(), 0.0f);
    EXPECT_LE(va[i].max().item<float>(), 1.0f);
  }
  // Erasing with probability 0.5 leaves about half of the views with a blank rectangle of at
  // least 15 pixels on this noise (where a zero pixel is otherwise rare).
  MultiCropAugmenter erase(views_of("1x28:erase=0.5"), 7);
  const torch::Tensor zeros = (erase(x)[0] == 0).sum({1, 2, 3});
  const int64_t with_hole = (zeros >= 4).sum().item<int64_t>();
  EXPECT_GE(with_hole, 3);
  EXPECT_LE(with_hole, 13);
}

}  // namespace
}  // namespace dcacn
