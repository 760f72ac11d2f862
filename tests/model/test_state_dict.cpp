#include <torch/serialize.h>

#include "../test_util.h"
#include "dcacn/model/dcacn_model.h"
#include "dcacn/model/state_dict.h"

namespace dcacn {
namespace {

using test::expect_error_containing;

class StateDictTest : public test::TempDirTest {};

DCACNOptions small() { return DCACNOptions().width(4).in_channels(1).image_size(28); }

TEST_F(StateDictTest, RoundTripReproducesOutputsExactly) {
  DCACN a(small());
  // Move BatchNorm statistics away from their defaults so buffers are checked too.
  a->train();
  a->forward(torch::rand({8, 1, 28, 28}) * 3);
  save_state_dict(*a, path("w.pt"));
  torch::manual_seed(99);
  DCACN b(small());
  load_state_dict(*b, path("w.pt"));
  a->eval();
  b->eval();
  torch::Tensor x = torch::rand({5, 1, 28, 28});
  torch::NoGradGuard no_grad;
  const DCACNOutput oa = a->forward(x), ob = b->forward(x);
  EXPECT_TRUE(oa.features.equal(ob.features));
  EXPECT_TRUE(oa.embedding.equal(ob.embedding));
  EXPECT_TRUE(oa.probabilities.equal(ob.probabilities));
}

TEST_F(StateDictTest, NamesArePyTorchStyleAndIncludeBuffers) {
  DCACN model(small());
  save_state_dict(*model, path("w.pt"));
  const auto entries = read_state_dict(path("w.pt"));
  std::vector<std::string> names;
  for (const auto& e : entries) names.push_back(e.first);
  auto has = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  EXPECT_TRUE(has("backbone.conv1.weight"));
  EXPECT_TRUE(has("backbone.layer2.0.downsample.0.weight"));
  EXPECT_TRUE(has("backbone.layer1.0.cbam.channel_gate.mlp.0.weight"));
  EXPECT_TRUE(has("backbone.layer1.0.cbam.spatial_gate.bn.running_var"));
  EXPECT_TRUE(has("backbone.bn1.num_batches_tracked"));
  EXPECT_TRUE(has("instance_head.mlp.2.bias"));
  EXPECT_TRUE(has("cluster_head.mlp.0.weight"));
}

TEST_F(StateDictTest, WrongShapeNamesTheTensor) {
  DCACN seven(small().clusters(7));
  save_state_dict(*seven, path("k7.pt"));
  DCACN ten(small().clusters(10));
  const torch::Tensor before = ten->cluster_head->mlp->parameters()[0].clone();
  expect_error_containing([&] { load_state_dict(*ten, path("k7.pt")); },
                          {path("k7.pt"), "2 with a different shape",
                           "cluster_head.mlp.2.weight: file [7, 32], model [10, 32]",
                           "cluster_head.mlp.2.bias: file [7], model [10]"});
  // Nothing was copied.
  EXPECT_TRUE(ten->cluster_head->mlp->parameters()[0].equal(before));
}

TEST_F(StateDictTest, MissingAndUnexpectedTensorsAreListed) {
  DCACN with(small());
  save_state_dict(*with, path("cbam.pt"));
  DCACN without(small().attention(Attention::kNone));
  expect_error_containing([&] { load_state_dict(*without, path("cbam.pt")); },
                          {"not in the model", "backbone.layer1.0.cbam.channel_gate.mlp.0.weight"});
  save_state_dict(*without, path("plain.pt"));
  expect_error_containing([&] { load_state_dict(*with, path("plain.pt")); },
                          {"missing from the file", ".cbam."});
}

TEST_F(StateDictTest, CorruptOrForeignFilesAreRefused) {
  test::write_text(path("junk.pt"), "definitely not a pickle");
  DCACN model(small());
  expect_error_containing([&] { load_state_dict(*model, path("junk.pt")); },
                          {"cannot read", path("junk.pt"), "weights file"});
  test::write_bytes(path("list.pt"), [] {
    auto bytes = torch::pickle_save(torch::IValue(std::vector<int64_t>{1, 2}));
    return std::vector<uint8_t>(bytes.begin(), bytes.end());
  }());
  expect_error_containing([&] { load_state_dict(*model, path("list.pt")); },
                          {path("list.pt"), "expected a dict of name -> tensor"});
  expect_error_containing([&] { load_state_dict(*model, path("absent.pt")); },
                          {"file not found", path("absent.pt")});
}

}  // namespace
}  // namespace dcacn
