#include <stb_image.h>

#include "../test_util.h"
#include "dcacn/io/image_grid.h"

namespace dcacn {
namespace {

class ImageGridTest : public test::TempDirTest {};

TEST_F(ImageGridTest, GridLayoutAndPngRoundTrip) {
  // Two rows; a black 4x4 column and a white 2x2 column, tiles of 4 px, padding 1 (white).
  torch::Tensor black = torch::zeros({2, 1, 4, 4}), white = torch::ones({2, 1, 2, 2});
  torch::Tensor grid = make_grid({black, white}, 4, 1);
  ASSERT_EQ(grid.sizes(), (std::vector<int64_t>{1, 2 * 4 + 3, 2 * 4 + 3}));
  EXPECT_EQ(grid[0][1][1].item<int>(), 0);    // inside the first black tile
  EXPECT_EQ(grid[0][0][0].item<int>(), 255);  // padding
  EXPECT_EQ(grid[0][7][7].item<int>(), 255);  // second column (white, upscaled)
  write_png(path("g.png"), grid);
  int w = 0, h = 0, c = 0;
  uint8_t* pixels = stbi_load(path("g.png").c_str(), &w, &h, &c, 0);
  ASSERT_NE(pixels, nullptr);
  EXPECT_EQ(w, 11);
  EXPECT_EQ(h, 11);
  EXPECT_EQ(c, 1);
  EXPECT_EQ(pixels[1 * 11 + 1], 0);
  stbi_image_free(pixels);
}

TEST_F(ImageGridTest, MixedChannelCountsBecomeColour) {
  torch::Tensor grid = make_grid({torch::rand({1, 1, 3, 3}), torch::rand({1, 3, 3, 3})}, 3);
  EXPECT_EQ(grid.size(0), 3);
}

}  // namespace
}  // namespace dcacn
