#include "../test_util.h"
#include "dcacn/model/resnet.h"

namespace dcacn {
namespace {

class ResNetTest : public test::TempDirTest {};

int64_t count(const torch::nn::Module& m) {
  int64_t total = 0;
  for (const auto& p : m.parameters()) total += p.numel();
  return total;
}

TEST_F(ResNetTest, PlainResNet34MatchesTorchvisionWithoutFc) {
  // torchvision.models.resnet34: 21,797,672 parameters, of which fc holds 512 * 1000 + 1000.
  ResNet plain(ResNetOptions(34).stem(Stem::kImagenet).attention(Attention::kNone));
  EXPECT_EQ(count(*plain), 21797672 - 513000);
  EXPECT_EQ(plain->feature_dim(), 512);
}

TEST_F(ResNetTest, CbamAddsItsFormulaPerBlock) {
  ResNet with(ResNetOptions(34).stem(Stem::kImagenet));
  // 3, 4, 6, 3 blocks at 64, 128, 256, 512 channels; hidden C/16; see test_cbam.
  int64_t cbam = 0;
  const std::vector<std::pair<int64_t, int64_t>> stages = {{3, 64}, {4, 128}, {6, 256}, {3, 512}};
  for (auto [blocks, c] : stages) cbam += blocks * (2 * c * (c / 16) + c / 16 + c + 98 + 2);
  EXPECT_EQ(count(*with), 21797672 - 513000 + cbam);
}

TEST_F(ResNetTest, FlopsMatchThePublishedResNetFigures) {
  // He et al. 2016, Table 1: 1.8e9 (ResNet-18) and 3.6e9 (ResNet-34) multiply-adds at 224 px.
  ResNet r18(ResNetOptions(18).stem(Stem::kImagenet).attention(Attention::kNone));
  ResNet r34(ResNetOptions(34).stem(Stem::kImagenet).attention(Attention::kNone));
  EXPECT_NEAR(r18->flops(224, 224) / 2.0, 1.8e9, 0.05e9);
  EXPECT_NEAR(r34->flops(224, 224) / 2.0, 3.6e9, 0.1e9);
}

TEST_F(ResNetTest, OutputShapesForEveryInputSizeAndChannelCount) {
  for (int64_t channels : {1, 3}) {
    for (int64_t size : {28, 32, 96, 224}) {
      ResNet net(ResNetOptions(34).width(4).in_channels(channels).stem(stem_for_image_size(size)));
      torch::Tensor y = net->forward(torch::rand({2, channels, size, size}));
      EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 32})) << channels << "x" << size;
    }
  }
  ResNet r50(ResNetOptions(50).width(4));
  EXPECT_EQ(r50->forward(torch::rand({2, 3, 32, 32})).sizes(), (std::vector<int64_t>{2, 128}));
  EXPECT_EQ(r50->feature_dim(), 128);
}

TEST_F(ResNetTest, StemChoice) {
  EXPECT_EQ(stem_for_image_size(28), Stem::kCifar);
  EXPECT_EQ(stem_for_image_size(64), Stem::kCifar);
  EXPECT_EQ(stem_for_image_size(96), Stem::kImagenet);
  ResNet cifar(ResNetOptions(18).width(4));
  EXPECT_EQ(cifar->conv1->weight.size(3), 3);
  EXPECT_FALSE(cifar->maxpool);
  ResNet imagenet(ResNetOptions(18).width(4).stem(Stem::kImagenet));
  EXPECT_EQ(imagenet->conv1->weight.size(3), 7);
  test::expect_error_containing([] { parse_stem("tiny"); }, {"unknown stem 'tiny'"});
}

TEST_F(ResNetTest, OfficialInitialisation) {
  ResNet net(ResNetOptions(34).width(16));
  for (const auto& item : net->named_parameters()) {
    const std::string& name = item.key();
    const torch::Tensor& p = item.value();
    if (name.find("spatial_gate.bn.weight") != std::string::npos) {
      EXPECT_TRUE(p.eq(0).all().item<bool>()) << name;
    } else if (name.find("bn") != std::string::npos && name.find(".weight") != std::string::npos) {
      EXPECT_TRUE(p.eq(1).all().item<bool>()) << name;
    } else if (name.find("bn") != std::string::npos && name.find(".bias") != std::string::npos) {
      EXPECT_TRUE(p.eq(0).all().item<bool>()) << name;
    }
  }
  // Kaiming normal, fan_out: std = sqrt(2 / (out_channels * k * k)).
  const torch::Tensor w = net->layer4->ptr<BasicBlockImpl>(1)->conv2->weight;
  const double expected = std::sqrt(2.0 / (128 * 9));
  EXPECT_NEAR(w.std().item<double>(), expected, 0.03 * expected);
  // Spatial masks start at exactly 0.5 (BN output 0 in eval mode).
  net->eval();
  auto block = net->layer1->ptr<BasicBlockImpl>(0);
  torch::Tensor mask = block->cbam->spatial_gate->mask(torch::randn({2, 16, 8, 8}));
  EXPECT_TRUE(mask.eq(0.5).all().item<bool>());
}

TEST_F(ResNetTest, EvalModeIsDeterministic) {
  ResNet net(ResNetOptions(18).width(8));
  net->eval();
  torch::Tensor x = torch::rand({3, 3, 32, 32});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(net->forward(x).equal(net->forward(x)));
}

TEST_F(ResNetTest, BadArguments) {
  test::expect_error_containing([] { ResNet(ResNetOptions(20)); }, {"depth must be 18, 34 or 50"});
  ResNet net(ResNetOptions(18).width(4).in_channels(1));
  test::expect_error_containing(
      [&] {
        net->forward(torch::rand({1, 3, 32, 32}));
      },
      {"expected [N, 1, H, W]", "[1, 3, 32, 32]"});
}

}  // namespace
}  // namespace dcacn
