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

}  // namespace
}  // namespace dcacn
