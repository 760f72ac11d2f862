#include "../test_util.h"
#include "dcacn/train/contrastive_stage.h"
#include "dcacn/train/neighbour_stage.h"
#include "dcacn/train/pipeline.h"
#include "dcacn/train/selflabel_stage.h"

namespace dcacn {
namespace {

using test::expect_error_containing;

TrainConfig with_stages(const std::string& text) {
  TrainConfig c;
  c.stages = text;
  return c;
}

TEST(Pipeline, TheFlagsOfEarlierVersionsDescribeTheirPipeline) {
  TrainConfig c;  // contrastive only, 1000 epochs
  EXPECT_EQ(legacy_pipeline_text(c), "contrastive:epochs=1000");
  c = preset("fmnist-cpu");
  c.stages.clear();  // its flags, without its own pipeline
  EXPECT_EQ(legacy_pipeline_text(c), "contrastive:minutes=30:epochs=1000,neighbours");
  c.selflabel_steps = 50;
  c.max_steps = 300;
  EXPECT_EQ(legacy_pipeline_text(c),
            "contrastive:minutes=30:steps=300:epochs=1000,selflabel:steps=50,neighbours");
  // In full, with the settings the flags give.
  const Pipeline p = build_pipeline(c);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0]->describe(),
            "contrastive:minutes=30:steps=300:epochs=1000:lr=0.001:schedule=constant");
  EXPECT_EQ(p[1]->describe(),
            "selflabel:steps=50:lr=0.0001:threshold=0.9:quota=0.5:ce=1:instance=1:entropy=1");
  EXPECT_EQ(p[2]->describe(),
            "neighbours:space=pixels:whiten=on:k=20:heads=8:passes=20:lr=0.001:entropy=5:"
            "patience=2:tolerance=0.01:keep=consensus");
  EXPECT_TRUE(p[0]->stepwise());
  EXPECT_FALSE(p[2]->stepwise());
}

TEST(Pipeline, StagesAreParsedInOrderWithTheirOwnSettings) {
  TrainConfig c = with_stages(
      "contrastive:27m:schedule=cosine,neighbours:space=features:k=7,selflabel:minutes=2.5:"
      "threshold=0.99,contrastive:steps=10:epochs=1,neighbours");
  c.selflabel_quota = 0.25;  // a flag gives what the stage's text leaves out
  c.neighbour_heads = 3;
  const Pipeline p = build_pipeline(c);
  ASSERT_EQ(p.size(), 5u);
  const auto& first = dynamic_cast<const ContrastiveStage&>(*p[0]);
  EXPECT_DOUBLE_EQ(first.budget().minutes(), 27);
  EXPECT_EQ(first.options().schedule(), LrSchedule::kCosine);
  const auto& nb = dynamic_cast<const NeighbourStage&>(*p[1]);
  EXPECT_EQ(nb.options().space(), NeighbourSpace::kFeatures);
  EXPECT_EQ(nb.options().k(), 7);
  EXPECT_EQ(nb.options().heads().heads(), 3);
  const auto& sl = dynamic_cast<const SelfLabelStage&>(*p[2]);
  EXPECT_DOUBLE_EQ(sl.budget().minutes(), 2.5);
  EXPECT_DOUBLE_EQ(sl.options().loss().threshold(), 0.99);
  EXPECT_DOUBLE_EQ(sl.options().loss().quota(), 0.25);
  EXPECT_EQ(p[3]->budget().steps(), 10);
  EXPECT_EQ(p[3]->budget().epochs(), 1);
  EXPECT_EQ(dynamic_cast<const NeighbourStage&>(*p[4]).options().space(), NeighbourSpace::kPixels);
  // The text written in full reads back to the same pipeline.
  const std::string text = pipeline_text(p);
  EXPECT_EQ(pipeline_text(build_pipeline(with_stages(text))), text);
  // Neighbour views: their settings are written only when the share is not 0.
  const Pipeline nv = build_pipeline(with_stages("contrastive:steps=4:neighbours=0.25:k=7"));
  const auto& views = dynamic_cast<const ContrastiveStage&>(*nv[0]);
  EXPECT_DOUBLE_EQ(views.options().neighbour_share(), 0.25);
  EXPECT_EQ(views.options().space(), NeighbourSpace::kPixels);
  EXPECT_EQ(views.options().k(), 7);
  EXPECT_EQ(views.describe(),
            "contrastive:steps=4:lr=0.0003:schedule=constant:neighbours=0.25:space=pixels:"
            "whiten=on:k=7");
  EXPECT_EQ(pipeline_text(build_pipeline(with_stages(views.describe()))), views.describe());
  // Progressive resizing: written only when on.
  const Pipeline pr =
      build_pipeline(with_stages("contrastive:steps=4:early_size=0.7:early_share=0.5"));
  const auto& resized = dynamic_cast<const ContrastiveStage&>(*pr[0]);
  EXPECT_DOUBLE_EQ(resized.options().early_size(), 0.7);
  EXPECT_DOUBLE_EQ(resized.options().early_share(), 0.5);
  EXPECT_EQ(resized.describe(),
            "contrastive:steps=4:lr=0.0003:schedule=constant:early_size=0.7:early_share=0.5");
  EXPECT_EQ(pipeline_text(build_pipeline(with_stages(resized.describe()))), resized.describe());
  // Weight averaging: written only when on.
  const Pipeline ema = build_pipeline(with_stages("contrastive:steps=4:ema=0.999"));
  const auto& averaged = dynamic_cast<const ContrastiveStage&>(*ema[0]);
  EXPECT_DOUBLE_EQ(averaged.options().ema(), 0.999);
  EXPECT_TRUE(averaged.end_replaces_network());
  EXPECT_FALSE(resized.end_replaces_network());
  EXPECT_DOUBLE_EQ(averaged.options().ema_window(), 0.1);
  EXPECT_EQ(averaged.describe(),
            "contrastive:steps=4:lr=0.0003:schedule=constant:ema=0.999:ema_window=0.1");
  EXPECT_EQ(pipeline_text(build_pipeline(with_stages(averaged.describe()))), averaged.describe());
  // A stage's settings without its budget.
  EXPECT_EQ(stage_settings(*p[3]), "contrastive:lr=0.0003:schedule=constant");
}

TEST(Pipeline, BadTextIsRefusedNamingTheStageAndTheSetting) {
  auto refused = [](const std::string& text, std::vector<std::string> parts) {
    expect_error_containing([&] { build_pipeline(with_stages(text)); }, parts);
  };
  refused("contrastive:10m,clustering", {"unknown stage 'clustering'", "neighbours"});
  refused("contrastive:10m:temperature=2", {"unknown setting 'temperature'", "contrastive",
                                            "minutes, share, steps, epochs, lr, schedule"});
  refused("contrastive", {"stage 1 (contrastive) needs a budget"});
  refused("contrastive:10m,selflabel:threshold=0.9", {"stage 2 (selflabel) needs a budget"});
  refused("contrastive:steps=ten", {"steps='ten' is not a number"});
  refused("contrastive:steps=2.5", {"steps=2.5 must be a whole number"});
  refused("contrastive:minutes=-1", {"must not be negative"});
  refused("contrastive:10m,,neighbours", {"an empty stage"});
  refused("contrastive:10m:minutes=5", {"'minutes' given twice"});
  refused("contrastive:10m,neighbours:space=colour",
          {"space must be pixels, features, both or auto", "colour"});
  refused("contrastive:10m,selflabel:steps=5:threshold=1", {"threshold", "[0, 1)"});
  refused("contrastive:10m,neighbours:k=0", {"k, heads and passes must be positive"});
  refused("contrastive:10m:schedule=linear", {"schedule", "linear"});
  refused("contrastive:10m:neighbours=1.5", {"contrastive neighbours", "between 0 and 1", "1.5"});
  refused("contrastive:10m:neighbours=0.5:space=auto", {"contrastive space", "auto"});
  refused("contrastive:10m:neighbours=0.5:k=0", {"contrastive k must be positive"});
  refused("contrastive:10m:early_size=0:early_share=0.5", {"early_size", "(0, 1]", "0"});
  refused("contrastive:10m:early_size=1.5", {"early_size", "1.5"});
  refused("contrastive:10m:early_size=0.7:early_share=1", {"early_share", "[0, 1)"});
  refused("contrastive:10m:ema=1", {"contrastive ema", "(0, 1)", "1"});
  refused("contrastive:10m:ema=-0.5", {"contrastive ema", "-0.5"});
  refused("contrastive:10m:ema=0.9:ema_window=1.5", {"ema_window", "(0, 1]", "1.5"});
}

TEST(Pipeline, NeighbourViewsAreDrawnForTheirShareFromTheSeedAndStep) {
  EXPECT_EQ(draw_neighbour_rows(1000, 0, 3, 5).sum().item<int64_t>(), 0);
  EXPECT_EQ(draw_neighbour_rows(1000, 1, 3, 5).sum().item<int64_t>(), 1000);
  const torch::Tensor half = draw_neighbour_rows(4000, 0.5, 3, 5);
  EXPECT_NEAR(half.sum().item<int64_t>(), 2000, 150);
  EXPECT_TRUE(half.equal(draw_neighbour_rows(4000, 0.5, 3, 5)));
  EXPECT_FALSE(half.equal(draw_neighbour_rows(4000, 0.5, 3, 6)));
  EXPECT_FALSE(half.equal(draw_neighbour_rows(4000, 0.5, 4, 5)));
}

TEST(Pipeline, StagesAndTheBudgetFlagsDoNotGoTogether) {
  TrainConfig c = with_stages("contrastive:10m");
  EXPECT_NO_THROW(c.validate());
  c.time_budget_minutes = 5;  // the whole run's
  EXPECT_NO_THROW(c.validate());
  c.max_steps = 5;
  expect_error_containing([&] { c.validate(); }, {"--stages", "--max-steps"});
  c.max_steps = 0;
  c.selflabel_minutes = 2;
  expect_error_containing([&] { c.validate(); }, {"--stages", "--selflabel-minutes"});
}

TEST(Pipeline, SharesAreFractionsOfTheRunsTimeBudget) {
  TrainConfig c = with_stages("contrastive:share=0.5,neighbours,scan:share=1:minutes=12");
  c.time_budget_minutes = 30;
  const Pipeline p = build_pipeline(c);
  EXPECT_DOUBLE_EQ(p[0]->budget().share(), 0.5);
  EXPECT_DOUBLE_EQ(p[0]->budget().limit_minutes(), 15);
  EXPECT_DOUBLE_EQ(p[2]->budget().limit_minutes(), 12);  // its own minutes, the smaller
  EXPECT_DOUBLE_EQ(p[1]->budget().limit_minutes(), 0);   // a whole stage: no budget
  // The text keeps the share, not the minutes it gives, and reads back the same.
  EXPECT_EQ(p[0]->describe(), "contrastive:share=0.5:lr=0.0003:schedule=constant");
  TrainConfig again = with_stages(pipeline_text(p));
  again.time_budget_minutes = 30;
  EXPECT_EQ(pipeline_text(build_pipeline(again)), pipeline_text(p));
  // Another run budget, other minutes: one pipeline serves every budget.
  again.time_budget_minutes = 10;
  EXPECT_DOUBLE_EQ(build_pipeline(again)[0]->budget().limit_minutes(), 5);
}

TEST(Pipeline, ShareNeedsTheRunsBudgetAndIsAFraction) {
  expect_error_containing([] { build_pipeline(with_stages("contrastive:share=0.5")); },
                          {"share=0.5", "give --time-budget"});
  TrainConfig c = with_stages("contrastive:share=1.5");
  c.time_budget_minutes = 10;
  expect_error_containing([&] { build_pipeline(c); }, {"share=1.5", "(0, 1]"});
}

TEST(Pipeline, ThePresetsPipelineFitsItsBudget) {
  const TrainConfig c = preset("fmnist-cpu");
  EXPECT_NO_THROW(c.validate());
  const Pipeline p = build_pipeline(c);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0]->kind(), StageKind::kContrastive);
  EXPECT_EQ(p[1]->kind(), StageKind::kNeighbours);
  EXPECT_DOUBLE_EQ(p[0]->budget().limit_minutes(), 30);  // until the run's budget says stop
  // Neighbour views from the pixels, then heads on the features' neighbours, with the network's
  // own head competing.
  EXPECT_NE(p[0]->describe().find(":neighbours=1:space=pixels"), std::string::npos)
      << p[0]->describe();
  EXPECT_NE(p[1]->describe().find("neighbours:space=features"), std::string::npos)
      << p[1]->describe();
  EXPECT_NE(p[1]->describe().find(":own=on"), std::string::npos) << p[1]->describe();
  // own=on needs the network's K: with --k-range the error says what to give instead.
  TrainConfig ranged = c;
  ranged.k_range = "2-12";
  expect_error_containing([&] { build_pipeline(ranged); },
                          {"--k-range 2-12", "--stages without own=on"});
}

TEST(Pipeline, NumbersAreWrittenExactly) {
  for (double v : {0.001, 3e-4, 1.0 / 3.0, 27.0, 0.1 + 0.2, 1e-12}) {
    EXPECT_EQ(std::strtod(exact_number(v).c_str(), nullptr), v) << exact_number(v);
  }
  EXPECT_EQ(exact_number(0.001), "0.001");
  EXPECT_EQ(exact_number(27), "27");
}

}  // namespace
}  // namespace dcacn
