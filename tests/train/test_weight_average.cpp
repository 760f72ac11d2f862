#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/linear.h>

#include "../test_util.h"
#include "dcacn/model/state_dict.h"
#include "dcacn/train/weight_average.h"

namespace dcacn {
namespace {

using test::expect_error_containing;

// A linear layer and a BatchNorm (running statistics and an integer count among its buffers).
struct TinyNetImpl : torch::nn::Module {
  TinyNetImpl() {
    fc = register_module("fc", torch::nn::Linear(3, 2));
    bn = register_module("bn", torch::nn::BatchNorm1d(2));
  }
  torch::nn::Linear fc{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
};
TORCH_MODULE(TinyNet);

void set_weights(TinyNet& net, float value) {
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : state_dict(*net)) {
    if (tensor.is_floating_point()) tensor.fill_(value);
  }
  net->bn->num_batches_tracked.fill_(static_cast<int64_t>(value));
}

TEST(WeightAverage, TheDecayFollowsTheWindowThenIsCappedAtTheLargest) {
  WeightAverage average(0.95, 0.1);
  TinyNet net;
  std::vector<double> decays;
  for (int u = 0; u < 200; ++u) {
    decays.push_back(average.next_decay());
    average.update(*net);
  }
  // (1 + u) / (11 + u): 1/11 at the first update (which copies), 0.5 at the tenth, 0.95 from
  // u = 189 on.
  EXPECT_DOUBLE_EQ(decays[0], 1.0 / 11);
  EXPECT_DOUBLE_EQ(decays[9], 0.5);
  EXPECT_LT(decays[188], 0.95);
  EXPECT_DOUBLE_EQ(decays[189], 0.95);
  EXPECT_DOUBLE_EQ(decays[199], 0.95);
  EXPECT_EQ(average.updates(), 200);
  // A window of a half: (1 + u) / (3 + u).
  WeightAverage half(0.999, 0.5);
  half.update(*net);
  EXPECT_DOUBLE_EQ(half.next_decay(), 2.0 / 4);
}

TEST(WeightAverage, AveragesFloatingWeightsAndStatisticsAndCopiesCounts) {
  TinyNet net;
  WeightAverage average(0.999, 0.1);
  // Weights 1, then 4, then 10: the first update copies, the second keeps 2/12 of the average,
  // the third 3/13.
  const std::vector<float> values = {1, 4, 10};
  for (const float v : values) {
    set_weights(net, v);
    average.update(*net);
  }
  const double two = 2.0 / 12 * 1 + 10.0 / 12 * 4;
  const double expected = 3.0 / 13 * two + 10.0 / 13 * 10;
  TinyNet out;
  average.take(*out);
  EXPECT_FALSE(average.started());
  for (const auto& [name, tensor] : state_dict(*out)) {
    if (tensor.is_floating_point()) {
      EXPECT_TRUE(torch::allclose(tensor, torch::full_like(tensor, expected), 1e-6, 1e-6)) << name;
    }
  }
  EXPECT_EQ(out->bn->num_batches_tracked.item<int64_t>(), 10);
  // Nothing left to take.
  expect_error_containing([&] { average.take(*out); }, {"holds no weights"});
  expect_error_containing([] { WeightAverage bad(1.0, 0.1); }, {"decay", "(0, 1)", "1"});
  expect_error_containing([] { WeightAverage bad(0.9, 0); }, {"window", "(0, 1]", "0"});
}

TEST(WeightAverage, ACheckpointsCopyContinuesAsTheOriginal) {
  TinyNet net;
  WeightAverage a(0.9, 0.1), b(0.9, 0.1);
  set_weights(net, 2);
  a.update(*net);
  set_weights(net, 5);
  a.update(*net);
  std::vector<std::pair<std::string, torch::Tensor>> saved;
  a.save(saved, "average/");
  EXPECT_EQ(saved.front().first, "average/updates");
  b.restore(saved, "average/", torch::kCPU);
  EXPECT_EQ(b.updates(), 2);
  set_weights(net, 7);
  a.update(*net);
  b.update(*net);
  TinyNet x, y;
  a.take(*x);
  b.take(*y);
  for (const auto& [name, tensor] : state_dict(*x)) {
    const auto other = state_dict(*y);
    const auto it = std::find_if(other.begin(), other.end(),
                                 [&](const auto& entry) { return entry.first == name; });
    ASSERT_NE(it, other.end());
    EXPECT_TRUE(tensor.equal(it->second)) << name;
  }
  // Nothing saved: restore leaves it not started.
  WeightAverage c(0.9, 0.1);
  c.restore({}, "average/", torch::kCPU);
  EXPECT_FALSE(c.started());
}

}  // namespace
}  // namespace dcacn
