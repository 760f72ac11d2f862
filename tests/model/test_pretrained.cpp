// torchvision's ResNet weights in dcacn's backbone: the features match torchvision's own
// (tests/fixtures/torchvision, written by scripts/make-torchvision-fixture.py from weights that
// a formula gives both sides), and the adaptations and refusals are stated.

#include <cmath>

#include "../test_util.h"
#include "dcacn/model/pretrained.h"
#include "dcacn/model/state_dict.h"

namespace dcacn {
namespace {

const std::string kFixtures = std::string(DCACN_FIXTURE_DIR) + "/torchvision";

// The fixture script's formula: every tensor's value from its name and shape.
torch::Tensor formula(const std::string& name, const torch::Tensor& like) {
  if (name.size() >= 19 && name.compare(name.size() - 19, 19, "num_batches_tracked") == 0) {
    return torch::zeros_like(like);
  }
  int64_t chars = 0;
  for (unsigned char c : name) chars += c;
  const double phase = static_cast<double>(chars % 997) * 0.001;
  const torch::Tensor s =
      torch::sin(0.37 * torch::arange(like.numel(), torch::kFloat64) + phase).view(like.sizes());
  auto ends = [&](const std::string& tail) {
    return name.size() >= tail.size() &&
           name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
  };
  torch::Tensor v;
  if (ends("running_var")) {
    v = 1 + 0.2 * s;
  } else if (ends("running_mean") || ends("bias")) {
    v = 0.1 * s;
  } else if (like.dim() == 1) {
    v = 1 + 0.1 * s;
  } else {
    v = s * std::sqrt(2.0 / static_cast<double>(like.numel() / like.size(0)));
  }
  return v.to(like.scalar_type());
}

torch::Tensor formula_input(int64_t channels) {
  return torch::sin(0.05 * torch::arange(2 * channels * 64 * 64, torch::kFloat64))
      .view({2, channels, 64, 64})
      .to(torch::kFloat32);
}

ResNetOptions torchvision_like(int64_t depth) {
  return ResNetOptions(depth).width(64).stem(Stem::kImagenet).attention(Attention::kNone);
}

// A torchvision state dict of the formula for `depth` (its names are the backbone's, plus the
// classifier), from a backbone of that shape with 3 input channels and torchvision's stem.
std::vector<std::pair<std::string, torch::Tensor>> formula_state(int64_t depth) {
  ResNet reference(torchvision_like(depth));
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, t] : state_dict(*reference)) out.emplace_back(name, formula(name, t));
  const int64_t d = reference->feature_dim();
  out.emplace_back("fc.weight", formula("fc.weight", torch::zeros({1000, d})));
  out.emplace_back("fc.bias", formula("fc.bias", torch::zeros({1000})));
  return out;
}

torch::Tensor expected(const std::string& key) {
  for (const auto& [name, t] : read_state_dict(kFixtures + "/outputs.pt")) {
    if (name == key) return t;
  }
  ADD_FAILURE() << key << " not in the fixture";
  return {};
}

void expect_close(const torch::Tensor& got, const torch::Tensor& want) {
  ASSERT_EQ(got.sizes(), want.sizes());
  const double scale = std::max(1.0, want.abs().max().item<double>());
  EXPECT_LT((got - want).abs().max().item<double>(), 1e-5 * scale);
}

TEST(Pretrained, TorchvisionWeightsGiveTorchvisionsFeatures) {
  for (int64_t depth : {18, 34, 50}) {
    SCOPED_TRACE(depth);
    ResNet net(torchvision_like(depth));
    const PretrainedReport r = load_torchvision_resnet(*net, formula_state(depth), "formula");
    EXPECT_EQ(r.loaded.size(), state_dict(*net).size());
    EXPECT_TRUE(r.adapted.empty());
    EXPECT_TRUE(r.fresh.empty());
    EXPECT_EQ(r.skipped, (std::vector<std::string>{"fc.weight", "fc.bias"}));
    net->eval();
    torch::NoGradGuard no_grad;
    expect_close(net->forward(formula_input(3)), expected(c10::str("resnet", depth, "_rgb")));
  }
}

// A grey image through the summed stem is the RGB network on (x, x, x).
TEST(Pretrained, OneChannelSumsTheRgbStem) {
  ResNet net(torchvision_like(34).in_channels(1));
  const PretrainedReport r = load_torchvision_resnet(*net, formula_state(34), "formula");
  EXPECT_EQ(r.adapted, (std::vector<std::string>{"conv1.weight: RGB summed for 1 channel"}));
  EXPECT_NE(r.summary().find("adapted 1 (conv1.weight: RGB summed for 1 channel)"),
            std::string::npos)
      << r.summary();
  net->eval();
  torch::NoGradGuard no_grad;
  expect_close(net->forward(formula_input(1)), expected("resnet34_gray"));
}

// The 3x3 stem and CBAM's gates have no torchvision counterpart: they stay as initialised.
TEST(Pretrained, AStemThatDiffersAndTheGatesStayAsInitialised) {
  ResNet net(torchvision_like(18).stem(Stem::kCifar).attention(Attention::kCBAM));
  const torch::Tensor stem = net->conv1->weight.detach().clone();
  const PretrainedReport r = load_torchvision_resnet(*net, formula_state(18), "formula");
  EXPECT_TRUE(net->conv1->weight.equal(stem));
  ASSERT_FALSE(r.fresh.empty());
  EXPECT_EQ(r.fresh.front(), "conv1.weight (the file's stem is 7x7, the network's 3x3)");
  for (size_t i = 1; i < r.fresh.size(); ++i) {
    EXPECT_NE(r.fresh[i].find(".cbam."), std::string::npos) << r.fresh[i];
  }
  // Everything else came from the file.
  EXPECT_EQ(r.loaded.size() + r.fresh.size(), state_dict(*net).size());
  const auto file = formula_state(18);
  for (const auto& [name, t] : file) {
    if (name == "layer2.0.downsample.0.weight") {
      EXPECT_TRUE(net->named_parameters()[name].equal(t));
    }
  }
}

TEST(Pretrained, AFileOfAnotherArchitectureIsRefusedWithNothingCopied) {
  ResNet net(torchvision_like(34));
  const torch::Tensor before = net->layer1->named_parameters()["0.conv1.weight"].detach().clone();
  test::expect_error_containing(
      [&] { load_torchvision_resnet(*net, formula_state(18), "r18.pth"); },
      {"r18.pth holds a ResNet-18, the network is a ResNet-34 (--arch resnet18 takes it)"});
  test::expect_error_containing(
      [&] { load_torchvision_resnet(*net, formula_state(50), "r50.pth"); },
      {"r50.pth holds a ResNet-50, the network is a ResNet-34 (--arch resnet50 takes it)"});
  ResNet narrow(torchvision_like(34).width(16));
  test::expect_error_containing(
      [&] { load_torchvision_resnet(*narrow, formula_state(34), "r34.pth"); },
      {"r34.pth is for width 64", "the network's is 16 (--width 64 takes it)"});
  test::expect_error_containing(
      [&] {
        load_torchvision_resnet(*net, {{"weight", torch::zeros({3})}}, "other.pth");
      },
      {"other.pth is not a torchvision ResNet state dict"});
  // A tensor of another shape inside a ResNet of the right depth and width.
  auto broken = formula_state(34);
  for (auto& [name, t] : broken) {
    if (name == "layer4.1.bn1.weight") t = torch::ones({7});
  }
  test::expect_error_containing(
      [&] { load_torchvision_resnet(*net, broken, "broken.pth"); },
      {"broken.pth does not fit the network: 1 tensors of another shape: layer4.1.bn1.weight"});
  EXPECT_TRUE(net->layer1->named_parameters()["0.conv1.weight"].equal(before));
}

// Names of nn.DataParallel's state dicts ("module.") load the same.
TEST(Pretrained, DataParallelNamesLoad) {
  auto prefixed = formula_state(18);
  for (auto& [name, t] : prefixed) name = "module." + name;
  ResNet net(torchvision_like(18));
  const PretrainedReport r = load_torchvision_resnet(*net, prefixed, "dp.pth");
  EXPECT_EQ(r.loaded.size(), state_dict(*net).size());
  EXPECT_EQ(r.skipped, (std::vector<std::string>{"fc.weight", "fc.bias"}));
}

// torch.save(model.state_dict()) writes an OrderedDict: the reader takes it as written.
TEST(Pretrained, TheReaderTakesTorchSavesOrderedDict) {
  const auto part = read_state_dict(kFixtures + "/resnet18_part.pth");
  std::vector<std::string> names;
  for (const auto& [name, t] : part) {
    names.push_back(name);
    EXPECT_TRUE(t.equal(formula(name, t))) << name;
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                                      "bn1.running_var", "bn1.num_batches_tracked", "fc.bias"}));
}

}  // namespace
}  // namespace dcacn
