#include "../test_util.h"
#include "dcacn/run/setup.h"

namespace dcacn {
namespace {

TEST(Setup, DatasetsViewsAndDevices) {
  TrainConfig c = preset("fmnist-cpu");
  EXPECT_EQ(dataset_info(c).image_size, 28);
  EXPECT_EQ(view_spec(c).global.front().size, 28);
  EXPECT_EQ(view_spec(c).local.size(), 4u);  // the preset overrides the dataset's two
  c = preset("paper-stl10");
  EXPECT_EQ(dataset_info(c).image_size, 96);
  EXPECT_EQ(view_spec(c).global.front().size, 96);
  c = preset("paper-imagenet10");
  EXPECT_EQ(dataset_info(c).image_size, 224);
  EXPECT_EQ(view_spec(c).global.front().size, 224);
  c.dataset = "cifar100";
  EXPECT_EQ(dataset_info(c).image_size, 32);
  c = TrainConfig();
  c.dataset = "folder";
  c.channels = 1;
  EXPECT_EQ(dataset_spec(c).folder.channels, 1);
  EXPECT_EQ(pick_device("cpu"), torch::Device(torch::kCPU));
  test::expect_error_containing([] { pick_device("gpu"); }, {"--device", "gpu"});
  const DCACNOptions o = model_options(preset("fmnist-cpu"), 1, 28);
  EXPECT_EQ(o.width(), 16);
  EXPECT_EQ(o.in_channels(), 1);
  EXPECT_EQ(o.image_size(), 28);
}

// The default views are docs/design.md section 5's settings: CC's colour jitter
// ColorJitter(0.8 s, 0.8 s, 0.8 s, 0.2 s) with s = 0.5 for small images and 1 for STL-10 and
// image folders, crop scales 0.2-1 / 0.05-0.5 (small) and 0.14-1 / 0.05-0.4 (large), blur
// p 0.5 on the local views (and the large globals), grayscale p 0.2.
TEST(Setup, DefaultViewsFollowTheReferenceSettings) {
  TrainConfig c;
  c.dataset = "cifar10";
  MultiCropSpec v = view_spec(c);
  ASSERT_EQ(v.global.size(), 2u);
  ASSERT_EQ(v.local.size(), 4u);
  EXPECT_EQ(v.local[0].size, 16);
  EXPECT_DOUBLE_EQ(v.global[0].brightness, 0.4);
  EXPECT_DOUBLE_EQ(v.global[0].hue, 0.1);
  EXPECT_DOUBLE_EQ(v.global[0].blur_p, 0.0);
  EXPECT_DOUBLE_EQ(v.global[0].scale.first, 0.2);
  EXPECT_DOUBLE_EQ(v.local[0].scale.first, 0.05);
  EXPECT_DOUBLE_EQ(v.local[0].scale.second, 0.5);
  EXPECT_DOUBLE_EQ(v.local[0].blur_p, 0.5);
  EXPECT_DOUBLE_EQ(v.local[0].gray_p, 0.2);
  c.dataset = "fashion-mnist";
  v = view_spec(c);
  EXPECT_EQ(v.local.size(), 2u);
  EXPECT_EQ(v.local[0].size, 14);
  c.dataset = "stl10";
  v = view_spec(c);
  EXPECT_DOUBLE_EQ(v.global[0].brightness, 0.8);
  EXPECT_DOUBLE_EQ(v.global[0].hue, 0.2);
  EXPECT_DOUBLE_EQ(v.global[0].blur_p, 0.5);
  EXPECT_DOUBLE_EQ(v.global[0].scale.first, 0.14);
  EXPECT_DOUBLE_EQ(v.local[0].scale.second, 0.4);
  EXPECT_EQ(v.local[0].size, 48);
  // --views on top of the defaults keeps their strengths.
  c.views = "2x96@0.3-1,6x32";
  v = view_spec(c);
  EXPECT_EQ(v.local.size(), 6u);
  EXPECT_DOUBLE_EQ(v.local[0].brightness, 0.8);
  EXPECT_DOUBLE_EQ(v.global[0].scale.first, 0.3);
}

}  // namespace
}  // namespace dcacn
