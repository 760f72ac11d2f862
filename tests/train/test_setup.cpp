#include "dcacn/train/setup.h"

#include "../test_util.h"

namespace dcacn {
namespace {

TEST(Setup, StoredSizesViewsAndDevices) {
  TrainConfig c = preset("fmnist-cpu");
  EXPECT_EQ(stored_image_size(c), 28);
  EXPECT_EQ(view_spec(c, 28).global.front().size, 28);
  EXPECT_EQ(view_spec(c, 28).local.size(), 4u);  // the preset overrides the dataset's two
  c = preset("paper-stl10");
  EXPECT_EQ(stored_image_size(c), 96);
  EXPECT_EQ(view_spec(c, 96).global.front().size, 96);
  c = preset("paper-imagenet10");
  EXPECT_EQ(stored_image_size(c), 224);
  c.dataset = "cifar100";
  EXPECT_EQ(stored_image_size(c), 32);
  EXPECT_EQ(pick_device("cpu"), torch::Device(torch::kCPU));
  test::expect_error_containing([] { pick_device("gpu"); }, {"--device", "gpu"});
  const DCACNOptions o = model_options(preset("fmnist-cpu"), 1, 28);
  EXPECT_EQ(o.width(), 16);
  EXPECT_EQ(o.in_channels(), 1);
  EXPECT_EQ(o.image_size(), 28);
}

}  // namespace
}  // namespace dcacn
