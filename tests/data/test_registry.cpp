#include "../test_util.h"
#include "dcacn/data/registry.h"

namespace dcacn {
namespace {

using test::expect_error_containing;

TEST(Registry, UnknownNamesAndMissingPathsAreExplained) {
  DatasetSpec spec;
  spec.name = "imagenet-21k";
  expect_error_containing([&] { load_dataset(spec); },
                          {"unknown dataset 'imagenet-21k'", "fashion-mnist", "stl10", "folder"});
  for (const std::string name : {"mnist", "cifar10", "cifar100", "stl10", "folder"}) {
    spec.name = name;
    expect_error_containing([&] { load_dataset(spec); }, {"--dataset " + name, "--data PATH"});
  }
  spec.name = "fashion-mnist";
  spec.path = "/nonexistent/fmnist";
  expect_error_containing([&] { load_dataset(spec); },
                          {"data folder not found", "/nonexistent/fmnist"});
}

TEST(Registry, DescriptorsSayWhatEachDatasetIs) {
  const DatasetInfo fm = dataset_info("fashion-mnist");
  EXPECT_EQ(fm.image_size, 28);
  EXPECT_EQ(fm.channels, 1);
  EXPECT_EQ(fm.default_path, "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(fm.cpu_preset, "fmnist-cpu");
  EXPECT_EQ(fm.default_views.substr(0, 4), "2x28");
  EXPECT_TRUE(dataset_info("mnist").default_path.empty());  // --data is needed
  EXPECT_EQ(dataset_info("cifar100").image_size, 32);
  EXPECT_EQ(dataset_info("cifar10").channels, 3);
  EXPECT_EQ(dataset_info("stl10").image_size, 96);
  ImageFolderOptions folder;
  folder.image_size = 224;
  folder.channels = 1;
  const DatasetInfo f = dataset_info("folder", folder);
  EXPECT_EQ(f.image_size, 224);
  EXPECT_EQ(f.channels, 1);
  EXPECT_EQ(f.default_views.substr(0, 6), "2x224@");
  EXPECT_NE(f.default_views.find(",4x112@"), std::string::npos);  // locals at half size
  expect_error_containing([] { dataset_info("imagenet"); }, {"unknown dataset 'imagenet'"});
}

TEST(Registry, SplitNames) {
  EXPECT_EQ(parse_split("train"), Split::kTrain);
  EXPECT_EQ(parse_split("all"), Split::kAll);
  EXPECT_EQ(parse_split("unlabeled"), Split::kUnlabeled);
  expect_error_containing([] { parse_split("val"); }, {"unknown split 'val'", "train, test"});
}

TEST(Dataset, ConcatKeepsLabelsOnlyWhenAllPartsHaveThem) {
  Dataset a, b;
  a.images = torch::zeros({2, 1, 3, 3}, torch::kUInt8);
  a.labels = torch::tensor({0, 1}, torch::kInt64);
  b.images = torch::ones({1, 1, 3, 3}, torch::kUInt8);
  b.labels = torch::tensor({2}, torch::kInt64);
  Dataset both = concat({a, b}, "ab");
  EXPECT_EQ(both.size(), 3);
  EXPECT_TRUE(both.labels.equal(torch::tensor({0, 1, 2}, torch::kInt64)));
  b.labels = torch::Tensor();
  EXPECT_FALSE(concat({a, b}, "ab").has_labels());
}

TEST(Dataset, FlattenScalesToUnitInterval) {
  torch::Tensor images = torch::tensor({0, 51, 255, 102}, torch::kUInt8).view({1, 1, 2, 2});
  torch::Tensor x = flatten_to_unit_float(images);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{1, 4}));
  EXPECT_TRUE(torch::allclose(x, torch::tensor({{0.0f, 0.2f, 1.0f, 0.4f}})));
}

}  // namespace
}  // namespace dcacn
