#include "../test_util.h"
#include "dcacn/model/dcacn_model.h"

namespace dcacn {
namespace {

class DcacnModelTest : public test::TempDirTest {};

DCACNOptions small(int64_t channels, int64_t size) {
  return DCACNOptions().width(4).in_channels(channels).image_size(size).clusters(7);
}

TEST_F(DcacnModelTest, OutputsForEveryInputSize) {
  for (int64_t channels : {1, 3}) {
    for (int64_t size : {28, 32, 96, 224}) {
      DCACN model(small(channels, size));
      const DCACNOutput out = model->forward(torch::rand({3, channels, size, size}));
      EXPECT_EQ(out.features.sizes(), (std::vector<int64_t>{3, 32}));
      ASSERT_EQ(out.embedding.sizes(), (std::vector<int64_t>{3, 128}));
      ASSERT_EQ(out.probabilities.sizes(), (std::vector<int64_t>{3, 7}));
      EXPECT_TRUE(torch::allclose(out.embedding.norm(2, 1), torch::ones({3})));
      EXPECT_TRUE(torch::allclose(out.probabilities.sum(1), torch::ones({3})));
      EXPECT_GE(out.probabilities.min().item<float>(), 0.0f);
    }
  }
}

// One backward pass of a loss touching both heads. With the official initialisation the
// spatial gates' BatchNorm weight is 0, which by construction blocks the gradient of the
// spatial convolutions; those are the only exceptions.
TEST_F(DcacnModelTest, EveryParameterReceivesAGradient) {
  DCACN model(small(3, 32));
  auto backward = [&] {
    model->zero_grad();
    const DCACNOutput out = model->forward(torch::rand({4, 3, 32, 32}));
    (out.embedding.pow(3).sum() + (out.probabilities * torch::rand({4, 7})).sum()).backward();
  };
  backward();
  for (const auto& item : model->named_parameters()) {
    const bool blocked = item.key().find("spatial_gate.conv.weight") != std::string::npos;
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    EXPECT_EQ(item.value().grad().abs().sum().item<float>() > 0, !blocked) << item.key();
  }
  {
    torch::NoGradGuard no_grad;
    for (const auto& item : model->named_parameters()) {
      if (item.key().find("spatial_gate.bn.weight") != std::string::npos) item.value().fill_(1);
    }
  }
  backward();
  for (const auto& item : model->named_parameters()) {
    EXPECT_GT(item.value().grad().abs().sum().item<float>(), 0) << item.key();
  }
}

TEST_F(DcacnModelTest, PredictIsTheArgmaxOfTheProbabilities) {
  DCACN model(small(1, 28));
  model->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::rand({16, 1, 28, 28});
  EXPECT_TRUE(model->predict(x).equal(model->forward(x).probabilities.argmax(1)));
}

TEST_F(DcacnModelTest, AttentionCanBeSwitchedOff) {
  DCACN plain(small(3, 32).attention(Attention::kNone));
  const ParameterCounts counts = count_parameters(*plain);
  EXPECT_EQ(counts.attention, 0);
  for (const auto& item : plain->named_parameters()) {
    EXPECT_EQ(item.key().find("cbam"), std::string::npos) << item.key();
  }
}

TEST_F(DcacnModelTest, ParameterCountsPartitionTheModel) {
  DCACN model(DCACNOptions().width(16).clusters(10));
  const ParameterCounts c = count_parameters(*model);
  EXPECT_EQ(c.total(), parameter_count(*model));
  // Heads on D = 128: (128*128 + 128) + (128*128 + 128) for the instance head, K = 10.
  EXPECT_EQ(c.instance_head, 128 * 128 + 128 + 128 * 128 + 128);
  EXPECT_EQ(c.cluster_head, 128 * 128 + 128 + 128 * 10 + 10);
  EXPECT_GT(c.attention, 0);
}

}  // namespace
}  // namespace dcacn
