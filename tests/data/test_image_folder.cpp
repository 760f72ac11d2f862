#include "dcacn/data/image_folder.h"

#include <stb_image_write.h>

#include <filesystem>

#include "../test_util.h"

namespace dcacn {
namespace {

using test::expect_error_containing;

// Writes a w x h image of one colour with `channels` channels.
void write_solid_png(const std::string& path, int w, int h, int channels,
                     std::vector<uint8_t> colour) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::vector<uint8_t> pixels;
  for (int i = 0; i < w * h; ++i) pixels.insert(pixels.end(), colour.begin(), colour.end());
  ASSERT_TRUE(stbi_write_png(path.c_str(), w, h, channels, pixels.data(), w * channels));
}

class ImageFolderTest : public test::TempDirTest {
 protected:
  void write_labelled() {
    write_solid_png(path("root/cat/a.png"), 8, 8, 3, {200, 10, 30});
    write_solid_png(path("root/cat/nested/b.png"), 5, 7, 3, {1, 2, 3});
    write_solid_png(path("root/dog/c.png"), 4, 4, 1, {77});
    test::write_text(path("root/dog/notes.txt"), "not an image");
  }
};

TEST_F(ImageFolderTest, LabelledFolderResizesAndLabelsBySortedClassName) {
  write_labelled();
  ImageFolderOptions options;
  options.image_size = 4;
  Dataset data = load_image_folder(path("root"), options);
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{3, 3, 4, 4}));
  EXPECT_EQ(data.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_TRUE(data.labels.equal(torch::tensor({0, 0, 1}, torch::kInt64)));
  ASSERT_EQ(data.paths.size(), 3u);
  EXPECT_EQ(data.paths[0], path("root/cat/a.png"));
  EXPECT_EQ(data.paths[1], path("root/cat/nested/b.png"));
  // A solid colour stays that colour after resampling; a gray image is replicated to RGB.
  EXPECT_TRUE(data.images[0][0].eq(200).all().item<bool>());
  EXPECT_TRUE(data.images[0][2].eq(30).all().item<bool>());
  EXPECT_TRUE(data.images[1][1].eq(2).all().item<bool>());
  EXPECT_TRUE(data.images[2].eq(77).all().item<bool>());
}

TEST_F(ImageFolderTest, ReadsJpeg) {
  std::filesystem::create_directories(path("jpg"));
  std::vector<uint8_t> pixels(16 * 16 * 3);
  for (size_t i = 0; i < pixels.size(); i += 3) {
    pixels[i] = 30;
    pixels[i + 1] = 160;
    pixels[i + 2] = 220;
  }
  ASSERT_TRUE(stbi_write_jpg(path("jpg/a.jpg").c_str(), 16, 16, 3, pixels.data(), 95));
  ImageFolderOptions options;
  options.image_size = 16;
  Dataset data = load_image_folder(path("jpg"), options);
  ASSERT_EQ(data.size(), 1);
  // JPEG is lossy: a flat colour comes back within a few levels.
  const torch::Tensor expected = torch::tensor({30, 160, 220}).view({3, 1, 1});
  EXPECT_LE((data.images[0].to(torch::kInt32) - expected).abs().max().item<int>(), 4);
}

TEST_F(ImageFolderTest, FlatFolderHasNoLabelsAndOneChannelMode) {
  write_solid_png(path("flat/x.png"), 6, 6, 3, {255, 255, 255});
  write_solid_png(path("flat/y.PNG"), 3, 9, 1, {0});
  ImageFolderOptions options;
  options.image_size = 5;
  options.channels = 1;
  Dataset data = load_image_folder(path("flat"), options);
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{2, 1, 5, 5}));
  EXPECT_FALSE(data.has_labels());
  EXPECT_TRUE(data.images[0].eq(255).all().item<bool>());
  EXPECT_TRUE(data.images[1].eq(0).all().item<bool>());
}

TEST_F(ImageFolderTest, CorruptImagesAreSkippedOrRejectedWithStrict) {
  write_labelled();
  test::write_text(path("root/dog/broken.jpg"), "this is not a JPEG");
  test::write_bytes(path("root/cat/empty.png"), {});
  ImageFolderOptions options;
  options.image_size = 4;
  Dataset data = load_image_folder(path("root"), options);
  EXPECT_EQ(data.size(), 3);
  EXPECT_TRUE(data.labels.equal(torch::tensor({0, 0, 1}, torch::kInt64)));
  for (const auto& p : data.paths) EXPECT_EQ(p.find("broken"), std::string::npos);
  options.strict = true;
  expect_error_containing([&] { load_image_folder(path("root"), options); },
                          {"2 of 5 images", "cannot be read", "broken.jpg", "empty.png"});
}

TEST_F(ImageFolderTest, MissingEmptyAndMixedFoldersAreErrors) {
  ImageFolderOptions options;
  expect_error_containing([&] { load_image_folder(path("absent"), options); },
                          {"image folder not found", path("absent")});
  std::filesystem::create_directories(path("empty/sub"));
  expect_error_containing([&] { load_image_folder(path("empty"), options); },
                          {"no images found", path("empty")});
  write_labelled();
  write_solid_png(path("root/loose.png"), 2, 2, 3, {0, 0, 0});
  expect_error_containing([&] { load_image_folder(path("root"), options); },
                          {"mixes class folders", "loose.png"});
}

TEST_F(ImageFolderTest, DecodeImagesReportsFailuresInInputOrder) {
  write_solid_png(path("a.png"), 3, 3, 3, {9, 9, 9});
  test::write_text(path("b.png"), "garbage");
  std::vector<int64_t> kept;
  std::vector<std::string> failed;
  ImageFolderOptions options;
  options.image_size = 3;
  torch::Tensor images =
      decode_images({path("b.png"), path("a.png"), path("missing.png")}, options, &kept, &failed);
  EXPECT_EQ(images.size(0), 1);
  EXPECT_EQ(kept, (std::vector<int64_t>{1}));
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_EQ(failed[0].rfind(path("b.png"), 0), 0u);
  EXPECT_EQ(failed[1].rfind(path("missing.png"), 0), 0u);
}

}  // namespace
}  // namespace dcacn
