#include <stb_image_write.h>
#include <zlib.h>

#include <filesystem>

#include "../test_util.h"
#include "dcacn/data/image_folder.h"

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

// A JPEG (quality 100) of gray pixels `pixels` [h * w], with an EXIF APP1 segment holding
// only the orientation tag, written byte by byte after the EXIF 2.3 specification: "Exif\0\0",
// a big-endian TIFF header, IFD0 with one SHORT entry 0x0112 = orientation.
void write_jpeg_with_orientation(const std::string& path, int w, int h,
                                 const std::vector<uint8_t>& pixels, int orientation) {
  std::vector<uint8_t> jpeg;
  stbi_write_jpg_to_func(
      [](void* context, void* data, int size) {
        auto* out = static_cast<std::vector<uint8_t>*>(context);
        out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
      },
      &jpeg, w, h, 1, pixels.data(), 100);
  ASSERT_GE(jpeg.size(), 2u);
  ASSERT_EQ(jpeg[0], 0xFF);
  ASSERT_EQ(jpeg[1], 0xD8);  // SOI
  const std::vector<uint8_t> tiff = {'M',  'M',
                                     0,    42,
                                     0,    0,
                                     0,    8,  // header, IFD0 at 8
                                     0,    1,  // one entry
                                     0x01, 0x12,
                                     0,    3,
                                     0,    0,
                                     0,    1,  // orientation, SHORT, 1
                                     0,    static_cast<uint8_t>(orientation),
                                     0,    0,
                                     0,    0,
                                     0,    0};  // no next IFD
  std::vector<uint8_t> app1 = {'E', 'x', 'i', 'f', 0, 0};
  app1.insert(app1.end(), tiff.begin(), tiff.end());
  const size_t length = app1.size() + 2;
  std::vector<uint8_t> segment = {0xFF, 0xE1, static_cast<uint8_t>(length >> 8),
                                  static_cast<uint8_t>(length & 0xFF)};
  segment.insert(segment.end(), app1.begin(), app1.end());
  jpeg.insert(jpeg.begin() + 2, segment.begin(), segment.end());
  test::write_bytes(path, jpeg);
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

TEST_F(ImageFolderTest, PhotosAreTurnedUprightAsTheirExifOrientationSays) {
  // 8 wide, 4 high: the left half black, the right half white.
  std::vector<uint8_t> pixels(8 * 4);
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 8; ++x) pixels[y * 8 + x] = x < 4 ? 0 : 255;
  }
  write_jpeg_with_orientation(path("photos/as_stored.jpg"), 8, 4, pixels, 1);
  write_jpeg_with_orientation(path("photos/rotate_cw.jpg"), 8, 4, pixels, 6);
  write_jpeg_with_orientation(path("photos/rotate_ccw.jpg"), 8, 4, pixels, 8);
  ImageFolderOptions options;
  options.image_size = 4;  // the central 4 x 4 square, no resampling
  options.channels = 1;
  const Dataset data = load_image_folder(path("photos"), options);
  ASSERT_EQ(data.paths.size(), 3u);  // sorted: as_stored, rotate_ccw, rotate_cw
  auto dark = [](const torch::Tensor& block) { return block.lt(64).all().item<bool>(); };
  auto light = [](const torch::Tensor& block) { return block.gt(192).all().item<bool>(); };
  const torch::Tensor stored = data.images[0][0];
  EXPECT_TRUE(dark(stored.slice(1, 0, 2)) && light(stored.slice(1, 2, 4))) << stored;
  // Rotated 90 degrees clockwise, the left half is on top, 4 wide and 8 high; counter-
  // clockwise, at the bottom.
  const torch::Tensor cw = data.images[2][0], ccw = data.images[1][0];
  EXPECT_TRUE(dark(cw.slice(0, 0, 2)) && light(cw.slice(0, 2, 4))) << cw;
  EXPECT_TRUE(light(ccw.slice(0, 0, 2)) && dark(ccw.slice(0, 2, 4))) << ccw;
}

TEST_F(ImageFolderTest, ImagesAreCentreCroppedUnlessSquashed) {
  // 8 x 4 gray: columns 0-1 at 0, 2-5 at 128, 6-7 at 255.
  std::vector<uint8_t> pixels(8 * 4);
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 8; ++x) pixels[y * 8 + x] = x < 2 ? 0 : (x < 6 ? 128 : 255);
  }
  std::filesystem::create_directories(path("wide"));
  ASSERT_TRUE(stbi_write_png(path("wide/a.png").c_str(), 8, 4, 1, pixels.data(), 8));
  ImageFolderOptions options;
  options.image_size = 4;
  options.channels = 1;
  // The central square, columns 2-5, as torchvision's Resize(4) + CenterCrop(4) gives it.
  EXPECT_TRUE(load_image_folder(path("wide"), options).images.eq(128).all().item<bool>());
  options.squash = true;
  const torch::Tensor squashed = load_image_folder(path("wide"), options).images[0][0];
  EXPECT_LT(squashed[0][0].item<int>(), 64);   // the black columns are in it
  EXPECT_GT(squashed[0][3].item<int>(), 192);  // and the white ones
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
  // The strides of [N, 1, H, W] in row-major order, not a one-channel NHWC view (which counts
  // as contiguous too, but sends convolutions down their channels-last path).
  EXPECT_EQ(data.images.strides(), (std::vector<int64_t>{25, 25, 5, 1}));
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

// A PNG of 8-bit gray whose header declares w x h pixels, with valid CRCs and an IDAT of only
// a few rows: what a hostile or damaged file looks like to a decoder.
std::vector<uint8_t> png_declaring(uint32_t w, uint32_t h) {
  std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  auto be32 = [](std::vector<uint8_t>& v, uint32_t x) {
    for (int shift = 24; shift >= 0; shift -= 8) v.push_back(static_cast<uint8_t>(x >> shift));
  };
  auto chunk = [&](const char* type, const std::vector<uint8_t>& data) {
    be32(out, static_cast<uint32_t>(data.size()));
    std::vector<uint8_t> body(type, type + 4);
    body.insert(body.end(), data.begin(), data.end());
    out.insert(out.end(), body.begin(), body.end());
    be32(out, static_cast<uint32_t>(crc32(0, body.data(), static_cast<uInt>(body.size()))));
  };
  std::vector<uint8_t> ihdr;
  be32(ihdr, w);
  be32(ihdr, h);
  ihdr.insert(ihdr.end(), {8, 0, 0, 0, 0});
  chunk("IHDR", ihdr);
  std::vector<uint8_t> rows(4 * (w + 1), 0);
  uLongf size = compressBound(static_cast<uLong>(rows.size()));
  std::vector<uint8_t> idat(size);
  compress(idat.data(), &size, rows.data(), static_cast<uLong>(rows.size()));
  idat.resize(size);
  chunk("IDAT", idat);
  chunk("IEND", {});
  return out;
}

TEST_F(ImageFolderTest, AnImageDeclaringTooManyPixelsIsSkippedBeforeDecoding) {
  test::write_bytes(path("huge.png"), png_declaring(20000, 20000));  // 400 megapixels
  test::write_bytes(path("fits.png"), png_declaring(64, 48));
  write_solid_png(path("good.png"), 3, 3, 1, {7});
  std::vector<int64_t> kept;
  std::vector<std::string> failed;
  ImageFolderOptions options;
  options.image_size = 3;
  options.channels = 1;
  decode_images({path("huge.png"), path("good.png"), path("fits.png")}, options, &kept, &failed);
  EXPECT_EQ(kept, (std::vector<int64_t>{1}));
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_NE(failed[0].find("declares 20000x20000 pixels"), std::string::npos) << failed[0];
  // A small image with missing rows fails in the decoder itself, not on its size.
  EXPECT_EQ(failed[1].find("declares"), std::string::npos) << failed[1];
  options.max_pixels = 64 * 48 - 1;
  failed.clear();
  decode_images({path("fits.png")}, options, &kept, &failed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].find("declares 64x48 pixels"), std::string::npos) << failed[0];
}

// Found by fuzz/run (fuzz_image): a PNM header without digits for its width decoded to a
// 0-pixel-wide image, and stb's resizer aborted the process on it.
TEST_F(ImageFolderTest, AnImageOfZeroWidthIsAnUnreadableImageNotACrash) {
  std::string pnm = "P5\n" + std::string(50, '\x96') + "3 2\n2?5\n\x05";
  test::write_text(path("empty.pnm"), pnm);
  write_solid_png(path("good.png"), 3, 3, 3, {7, 7, 7});
  std::vector<int64_t> kept;
  std::vector<std::string> failed;
  ImageFolderOptions options;
  options.image_size = 16;
  decode_images({path("empty.pnm"), path("good.png")}, options, &kept, &failed);
  EXPECT_EQ(kept, (std::vector<int64_t>{1}));
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].find("0x"), std::string::npos) << failed[0];
}

// Found by fuzz/run (fuzz_image): a 3 x 3 PNG whose IDAT chunk declares 1,090,519,054 bytes;
// stb_image allocated the declared length before reading it. Chunks are now checked against
// the file first.
TEST_F(ImageFolderTest, APngChunkLongerThanItsFileIsRefusedBeforeDecoding) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0,    0,    0,   0x0d,
                              'I',  'H', 'D', 'R', 0,    0,    0,    3,    0,    0,    0,   3,
                              8,    0,   0,   0,   0,    0x73, 0x43, 0xea, 0x63, 0x41, 0,   0,
                              0x0e, 'I', 'D', 'A', 'T',  0x78, 0x9c, 0x63, 0x16, 0xff, 0xff};
  test::write_bytes(path("long-chunk.png"), png);
  std::vector<int64_t> kept;
  std::vector<std::string> failed;
  ImageFolderOptions options;
  options.image_size = 3;
  decode_images({path("long-chunk.png")}, options, &kept, &failed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].find("PNG chunk 'IDAT' at byte 33 declares 1090519054 bytes"),
            std::string::npos)
      << failed[0];
  // The same with the chunk cut inside its first 12 bytes (found next: 1.3 GB).
  png.resize(42);
  test::write_bytes(path("long-chunk.png"), png);
  failed.clear();
  decode_images({path("long-chunk.png")}, options, &kept, &failed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].find("PNG chunk at byte 33 is cut short"), std::string::npos) << failed[0];
}

TEST_F(ImageFolderTest, DecodedImagesThatCannotFitInMemoryAreRefusedBeforeDecoding) {
  // A million 4096 px RGB images: 50 TB. The files need not exist: nothing is decoded.
  std::vector<std::string> files(1000000, path("never-read.png"));
  ImageFolderOptions options;
  options.image_size = 4096;
  expect_error_containing([&] { decode_images(files, options, nullptr, nullptr); },
                          {"1000000 images decoded at 4096x4096x3", "bytes of memory"});
}

TEST_F(ImageFolderTest, SymbolicLinkLoopsAreListedOnce) {
  write_solid_png(path("root/a/x.png"), 2, 2, 3, {1, 2, 3});
  write_solid_png(path("elsewhere/y.png"), 2, 2, 3, {1, 2, 3});
  std::filesystem::create_directory_symlink(path("root/a"), path("root/a/loop"));
  std::filesystem::create_directory_symlink(path("root"), path("root/a/up"));
  std::filesystem::create_directory_symlink(path("elsewhere"), path("root/linked"));
  EXPECT_EQ(list_image_files(path("root")),
            (std::vector<std::string>{path("root/a/x.png"), path("root/linked/y.png")}));
}

}  // namespace
}  // namespace dcacn
