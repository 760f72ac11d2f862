#include "../test_util.h"
#include "dcacn/train/pipeline.h"
#include "dcacn/train/scan_stage.h"
#include "dcacn/train/selflabel_stage.h"

namespace dcacn {
namespace {

using test::expect_error_containing;

TEST(ScanStage, EachAnchorDrawsOneOfItsOwnNeighboursFromTheSeedAndStep) {
  const torch::Tensor neighbours = torch::arange(40, torch::kInt64).view({10, 4}) + 100;
  const torch::Tensor index = torch::tensor({7, 2, 2, 9, 0}, torch::kInt64);
  const torch::Tensor a = draw_partners(neighbours, index, 3, 17);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{5}));
  for (int64_t i = 0; i < 5; ++i) {
    const int64_t anchor = index[i].item<int64_t>(), partner = a[i].item<int64_t>();
    EXPECT_GE(partner, 100 + 4 * anchor) << i;
    EXPECT_LT(partner, 100 + 4 * (anchor + 1)) << i;
  }
  EXPECT_TRUE(a.equal(draw_partners(neighbours, index, 3, 17)));
  // Another step (or seed) draws others: over 200 anchors, not the same column everywhere.
  const torch::Tensor many = torch::arange(10, torch::kInt64).repeat(20);
  EXPECT_FALSE(
      draw_partners(neighbours, many, 3, 17).equal(draw_partners(neighbours, many, 3, 18)));
  EXPECT_FALSE(
      draw_partners(neighbours, many, 3, 17).equal(draw_partners(neighbours, many, 4, 17)));
  // Every column is drawn.
  const torch::Tensor column = (draw_partners(neighbours, many, 3, 17) - 100) % 4;
  EXPECT_EQ(torch::bincount(column).gt(0).sum().item<int64_t>(), 4);
}

TEST(ScanStage, SettingsParseAndWriteBack) {
  TrainConfig c;
  c.stages = "contrastive:steps=5,neighbours,scan:minutes=4:lr=3e-05:space=features:k=7";
  const Pipeline p = build_pipeline(c);
  ASSERT_EQ(p.size(), 3u);
  const auto& scan = dynamic_cast<const ScanStage&>(*p[2]);
  EXPECT_DOUBLE_EQ(scan.options().budget().minutes(), 4);
  EXPECT_DOUBLE_EQ(scan.options().lr(), 3e-5);
  EXPECT_EQ(scan.options().space(), NeighbourSpace::kFeatures);
  EXPECT_EQ(scan.options().k(), 7);
  EXPECT_DOUBLE_EQ(scan.options().entropy_weight(), c.neighbour_entropy_weight);
  EXPECT_EQ(scan.describe(),
            "scan:minutes=4:lr=3e-05:space=features:whiten=on:k=7:entropy=5:guard=off");
  c.stages = scan.describe();
  EXPECT_EQ(pipeline_text(build_pipeline(c)), scan.describe());
  c.stages = "scan:steps=3:view=2";
  expect_error_containing([&] { build_pipeline(c); }, {"view"});
  c.stages = "scan:steps=3:k=0";
  expect_error_containing([&] { build_pipeline(c); }, {"scan lr and k must be positive"});
  c.stages = "scan";
  expect_error_containing([&] { build_pipeline(c); }, {"needs a budget"});
}

TEST(SelfLabelStage, ReliableLabelsNeedConfidenceAndNeighboursThatAgree) {
  // Four images, two clusters; each image's 2 neighbours.
  const torch::Tensor p =
      torch::tensor({0.99f, 0.01f, 0.95f, 0.05f, 0.02f, 0.98f, 0.6f, 0.4f}).view({4, 2});
  const torch::Tensor neighbours =
      torch::tensor({1, 3, 0, 2, 3, 0, 0, 1}, torch::kInt64).view({4, 2});
  // Image 0: p 0.99, neighbours 1 (0) and 3 (0): 2/2. Image 1: 0.95, neighbours 0 (0), 2 (1):
  // 1/2. Image 2: 0.98 for cluster 1, neighbours 3 (0), 0 (0): 0/2. Image 3: 0.6, 2/2.
  EXPECT_TRUE(reliable_labels(p, neighbours, 0.9, 1.0)
                  .equal(torch::tensor({0, -1, -1, -1}, torch::kInt64)));
  EXPECT_TRUE(
      reliable_labels(p, neighbours, 0.9, 0.5).equal(torch::tensor({0, 0, -1, -1}, torch::kInt64)));
  EXPECT_TRUE(
      reliable_labels(p, neighbours, 0.5, 0.0).equal(torch::tensor({0, 0, 1, 0}, torch::kInt64)));
}

TEST(SelfLabelStage, ReliableSettingsParseAndWriteBack) {
  TrainConfig c;
  c.stages =
      "selflabel:steps=5:labels=reliable:threshold=0.99:agreement=0.8:space=pixels:k=10:guard=off";
  const Pipeline p = build_pipeline(c);
  const auto& s = dynamic_cast<const SelfLabelStage&>(*p[0]);
  EXPECT_TRUE(s.options().reliable());
  EXPECT_FALSE(s.options().guard());
  // The pipeline text a checkpoint records keeps the guard setting, so a resume keeps it too.
  EXPECT_NE(s.describe().find(":guard=off"), std::string::npos);
  EXPECT_DOUBLE_EQ(s.options().agreement(), 0.8);
  EXPECT_EQ(s.options().space(), NeighbourSpace::kPixels);
  EXPECT_EQ(s.options().k(), 10);
  c.stages = s.describe();
  EXPECT_EQ(pipeline_text(build_pipeline(c)), s.describe());
  // Online labels write no reliable settings (the text of earlier runs stays as it was).
  c.stages = "selflabel:steps=5";
  EXPECT_EQ(pipeline_text(build_pipeline(c)).find("labels="), std::string::npos);
  c.stages = "selflabel:steps=5:labels=best";
  expect_error_containing([&] { build_pipeline(c); }, {"labels must be online or reliable"});
  c.stages = "selflabel:steps=5:labels=reliable:agreement=1.5";
  expect_error_containing([&] { build_pipeline(c); }, {"agreement is a share in [0, 1]"});
}

}  // namespace
}  // namespace dcacn
