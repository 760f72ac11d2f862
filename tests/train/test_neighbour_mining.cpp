#include "../test_util.h"
#include "dcacn/train/neighbour_mining.h"

namespace dcacn {
namespace {

TEST(NeighbourMining, PixelSpaceAveragesLargeImagesDownTo32Pixels) {
  const torch::Tensor small = torch::randint(0, 256, {3, 1, 28, 28}, torch::kUInt8);
  const torch::Tensor rows = pixel_space(small, torch::kCPU);
  EXPECT_EQ(rows.sizes(), (std::vector<int64_t>{3, 28 * 28}));
  EXPECT_TRUE(torch::allclose(rows, small.flatten(1).to(torch::kFloat32) / 255.0));
  // A 64 px image becomes 32 x 32 means of 2 x 2 blocks.
  const torch::Tensor large = torch::randint(0, 256, {2, 3, 64, 64}, torch::kUInt8);
  const torch::Tensor down = pixel_space(large, torch::kCPU);
  EXPECT_EQ(down.sizes(), (std::vector<int64_t>{2, 3 * 32 * 32}));
  const torch::Tensor block = large.to(torch::kFloat64).slice(2, 0, 2).slice(3, 0, 2) / 255.0;
  EXPECT_NEAR(down[1][0].item<double>(), block[1][0].mean().item<double>(), 1e-6);
}

TEST(NeighbourMining, AgreementIsTheShareOfNeighboursInTheImagesCluster) {
  const torch::Tensor clusters = torch::tensor({0, 0, 1, 1, 2}, torch::kInt64);
  const torch::Tensor neighbours =
      torch::tensor({1, 2, 3, 0, 1, 4, 3, 0, 1, 2, 3, 4, 0, 1, 2}, torch::kInt64).view({5, 3});
  // Image 0 (cluster 0): 1 (0), 2 (1), 3 (1) -> 1/3; image 1: 0 (0), 1 (0), 4 (2) -> 2/3;
  // image 2: 3 (1), 0, 1 -> 1/3; image 3: 2 (1), 3 (1), 4 (2) -> 2/3; image 4: none -> 0.
  const torch::Tensor expected = torch::tensor({1.0f / 3, 2.0f / 3, 1.0f / 3, 2.0f / 3, 0.0f});
  EXPECT_TRUE(torch::allclose(neighbour_agreement(clusters, neighbours), expected));
  test::expect_error_containing([&] { neighbour_agreement(clusters, neighbours.slice(0, 0, 4)); },
                                {"expected [N] clusters and [N, k] neighbours"});
}

TEST(NeighbourMining, SpacesAreNamedAsTheOptionWritesThem) {
  EXPECT_EQ(parse_neighbour_space("pixels", "--x"), NeighbourSpace::kPixels);
  EXPECT_EQ(neighbour_space_name(NeighbourSpace::kFeatures), "features");
  EXPECT_EQ(parse_neighbour_space("both", "--x"), NeighbourSpace::kBoth);
  EXPECT_EQ(neighbour_space_name(NeighbourSpace::kBoth), "both");
  EXPECT_EQ(parse_neighbour_space("auto", "--x"), NeighbourSpace::kAuto);
  EXPECT_EQ(neighbour_space_name(NeighbourSpace::kAuto), "auto");
  test::expect_error_containing([] { parse_neighbour_space("colour", "--x"); },
                                {"--x must be pixels, features, both or auto, got colour"});
}

// The combined space's similarity is the mean of the two cosine similarities: centred pixels
// and features, each at unit length.
TEST(NeighbourMining, TheCombinedSpaceAveragesTheTwoCosineSimilarities) {
  const torch::Tensor images = torch::randint(0, 256, {6, 1, 4, 4}, torch::kUInt8);
  const torch::Tensor features = torch::randn({6, 3});
  const torch::Tensor rows = combined_space(images, features, torch::kCPU, /*whiten=*/false);
  ASSERT_EQ(rows.sizes(), (std::vector<int64_t>{6, 16 + 3}));
  const torch::Tensor p = images.flatten(1).to(torch::kFloat64) / 255.0;
  const torch::Tensor c = p - p.mean(0, true);
  const torch::Tensor f = features.to(torch::kFloat64);
  auto cosine = [](const torch::Tensor& a, const torch::Tensor& b) {
    return (a * b).sum().item<double>() / (a.norm().item<double>() * b.norm().item<double>());
  };
  for (int64_t i = 0; i < 6; ++i) {
    for (int64_t j = 0; j < 6; ++j) {
      const double expected = (cosine(c[i], c[j]) + cosine(f[i], f[j])) / 2;
      EXPECT_NEAR((rows[i] * rows[j]).sum().item<double>(), expected, 1e-5) << i << ", " << j;
    }
  }
  test::expect_error_containing(
      [&] { combined_space(images, features.slice(0, 0, 5), torch::kCPU); },
      {"expected [6, D] features"});
}

}  // namespace
}  // namespace dcacn
