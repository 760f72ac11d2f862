#include <torch/nn/modules/linear.h>

#include "../test_util.h"
#include "dcacn/model/heads.h"
#include "dcacn/train/neighbour_stage.h"

namespace dcacn {
namespace {

using test::expect_error_containing;

// Two linear layers registered in the order given, so that the same names can come in another
// order.
struct TwoLayersImpl : torch::nn::Module {
  TwoLayersImpl(bool reversed, int64_t width) {
    if (reversed) {
      second = register_module("second", torch::nn::Linear(width, 2));
      first = register_module("first", torch::nn::Linear(3, width));
    } else {
      first = register_module("first", torch::nn::Linear(3, width));
      second = register_module("second", torch::nn::Linear(width, 2));
    }
  }
  torch::nn::Linear first{nullptr}, second{nullptr};
};
TORCH_MODULE(TwoLayers);

TEST(NeighbourStage, HeadParametersAreCopiedByNameWithTheirShapesChecked) {
  torch::manual_seed(1);
  TwoLayers target(false, 4), source(true, 4);
  copy_parameters(*target, *source);
  // By name: the registration order of the source does not matter.
  EXPECT_TRUE(target->first->weight.equal(source->first->weight));
  EXPECT_TRUE(target->second->bias.equal(source->second->bias));
  TwoLayers wider(false, 5);
  expect_error_containing([&] { copy_parameters(*target, *wider); },
                          {"first.weight", "[5, 3]", "expected [4, 3]"});
  ClusterHead head(ClusterHeadOptions(4, 2));
  expect_error_containing([&] { copy_parameters(*target, *head); }, {"first.weight is missing"});
}

// Inside a run's time budget the heads take another pass while it and the scoring after it fit;
// below half their passes, the run's allowance past its budget counts too.
TEST(NeighbourStage, TheHeadsPassesEndWithTheBudgetButNotBeforeHalfWithinTheAllowance) {
  // 1 s a pass: the next and the scoring need 2 s.
  EXPECT_TRUE(another_heads_pass(3, 20, 1.0, 2.5, 0.0, 0.0));
  EXPECT_FALSE(another_heads_pass(3, 20, 1.0, 1.5, 0.0, 0.0));
  EXPECT_FALSE(another_heads_pass(3, 20, 1.0, 2.5, 1.0, 0.0));  // kept for a later space
  // The allowance, below half the passes only.
  EXPECT_TRUE(another_heads_pass(3, 20, 1.0, -1.0, 0.0, 4.0));
  EXPECT_TRUE(another_heads_pass(9, 20, 1.0, 0.5, 0.0, 2.0));
  EXPECT_FALSE(another_heads_pass(10, 20, 1.0, 0.5, 0.0, 2.0));
  EXPECT_FALSE(another_heads_pass(3, 20, 1.0, -1.0, 0.0, 2.0));  // past it as well
  EXPECT_TRUE(another_heads_pass(20, 20, 5.0, -10.0, 0.0, 0.0));
}

}  // namespace
}  // namespace dcacn
