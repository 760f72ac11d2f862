#include "dcacn/infer/inference.h"

#include <filesystem>

#include "../test_util.h"

namespace dcacn {
namespace {

class InferenceTest : public test::TempDirTest {};

TEST_F(InferenceTest, CheckpointPathsAreResolvedWithClearErrors) {
  std::filesystem::create_directories(path("run/checkpoints"));
  test::write_text(path("run/checkpoints/last.pt"), "x");
  EXPECT_EQ(resolve_checkpoint(path("run")), path("run/checkpoints/last.pt"));
  EXPECT_EQ(resolve_checkpoint(path("run/checkpoints/last.pt"), "best"),
            path("run/checkpoints/last.pt"));
  test::expect_error_containing([&] { resolve_checkpoint(path("run"), "best"); },
                                {"not a training run", "best.pt"});
  test::expect_error_containing([&] { resolve_checkpoint(path("run"), "first"); },
                                {"last or best", "first"});
  test::expect_error_containing([&] { resolve_checkpoint(path("none.pt")); },
                                {"none.pt", "not found"});
  test::expect_error_containing([&] { load_trained_model(path("run")); },
                                {"last.pt", "damaged"});
}

TEST_F(InferenceTest, ChannelsAreConvertedBothWays) {
  const torch::Tensor rgb = torch::tensor({255, 0, 0, 0, 255, 0, 0, 0, 255}, torch::kUInt8)
                                .view({3, 3}).t().reshape({1, 3, 1, 3});  // red, green, blue pixels
  const torch::Tensor gray = match_channels(rgb, 1);
  ASSERT_EQ(gray.sizes(), (std::vector<int64_t>{1, 1, 1, 3}));
  EXPECT_EQ(gray.flatten()[0].item<int>(), 76);   // 0.299 * 255
  EXPECT_EQ(gray.flatten()[1].item<int>(), 150);  // 0.587 * 255
  EXPECT_EQ(gray.flatten()[2].item<int>(), 29);   // 0.114 * 255
  const torch::Tensor back = match_channels(gray, 3);
  ASSERT_EQ(back.size(1), 3);
  EXPECT_TRUE(back.select(1, 2).equal(gray.select(1, 0)));
  EXPECT_TRUE(match_channels(rgb, 3).equal(rgb));
  EXPECT_THROW(match_channels(rgb, 2), std::exception);
}

}  // namespace
}  // namespace dcacn
