#include "../test_util.h"
#include "dcacn/model/cbam.h"

namespace dcacn {
namespace {

class CbamTest : public test::TempDirTest {};

TEST_F(CbamTest, HiddenWidthHasAFloor) {
  EXPECT_EQ(ChannelGateOptions(512).hidden(), 32);
  EXPECT_EQ(ChannelGateOptions(64).hidden(), 4);
  EXPECT_EQ(ChannelGateOptions(16).hidden(), 4);  // 16 / 16 = 1, raised to the floor
  EXPECT_EQ(ChannelGateOptions(2).hidden(), 2);   // the floor never exceeds C
  EXPECT_EQ(ChannelGateOptions(64).reduction(8).hidden(), 8);
}

TEST_F(CbamTest, ParameterCountFollowsTheFormula) {
  // MLP C->h->C with biases: 2 C h + h + C; spatial conv 2*7*7 = 98; its BatchNorm 2.
  for (int64_t c : {16, 64, 256}) {
    CBAM cbam{CBAMOptions(c)};
    const int64_t h = ChannelGateOptions(c).hidden();
    int64_t count = 0;
    for (const auto& p : cbam->parameters()) count += p.numel();
    EXPECT_EQ(count, 2 * c * h + h + c + 98 + 2) << "C = " << c;
  }
}

TEST_F(CbamTest, MasksAreStrictlyBetweenZeroAndOneAndShapesArePreserved) {
  CBAM cbam(CBAMOptions(32));
  torch::Tensor x = torch::randn({3, 32, 9, 7}) * 3;
  torch::Tensor channel = cbam->channel_gate->mask(x);
  torch::Tensor spatial = cbam->spatial_gate->mask(cbam->channel_gate->forward(x));
  ASSERT_EQ(channel.sizes(), (std::vector<int64_t>{3, 32, 1, 1}));
  ASSERT_EQ(spatial.sizes(), (std::vector<int64_t>{3, 1, 9, 7}));
  for (const auto& m : {channel, spatial}) {
    EXPECT_GT(m.min().item<float>(), 0.0f);
    EXPECT_LT(m.max().item<float>(), 1.0f);
  }
  torch::Tensor y = cbam->forward(x);
  EXPECT_EQ(y.sizes(), x.sizes());
  // The output is the input scaled by both masks, element by element.
  EXPECT_TRUE(torch::allclose(y, x * channel * spatial, 1e-5, 1e-6));
}

TEST_F(CbamTest, PerturbingEitherGateChangesTheOutput) {
  CBAM cbam(CBAMOptions(16));
  cbam->eval();
  torch::Tensor x = torch::randn({2, 16, 6, 6});
  const torch::Tensor before = cbam->forward(x);
  {
    torch::NoGradGuard no_grad;
    cbam->channel_gate->mlp->parameters()[0].add_(
        torch::randn_like(cbam->channel_gate->mlp->parameters()[0]));
  }
  const torch::Tensor after_channel = cbam->forward(x);
  EXPECT_GT((after_channel - before).abs().max().item<float>(), 1e-3f);
  {
    torch::NoGradGuard no_grad;
    cbam->spatial_gate->conv->weight.add_(torch::randn_like(cbam->spatial_gate->conv->weight));
  }
  EXPECT_GT((cbam->forward(x) - after_channel).abs().max().item<float>(), 1e-3f);
}

TEST_F(CbamTest, WrongChannelCountIsReported) {
  CBAM cbam(CBAMOptions(8));
  test::expect_error_containing(
      [&] {
        cbam->forward(torch::randn({1, 4, 5, 5}));
      },
      {"expected [N, 8, H, W]", "[1, 4, 5, 5]"});
}

}  // namespace
}  // namespace dcacn
