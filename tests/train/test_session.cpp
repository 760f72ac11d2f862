// The session runs a pipeline of stages: in any order, resumed inside any of them, appended to,
// and blind to the labels.

#include <torch/optim/adam.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "../test_util.h"
#include "dcacn/cluster/neighbours.h"
#include "dcacn/data/registry.h"
#include "dcacn/infer/inference.h"
#include "dcacn/io/image_grid.h"
#include "dcacn/run/checkpoint.h"
#include "dcacn/run/setup.h"
#include "dcacn/train/pipeline.h"
#include "dcacn/train/trainer.h"
#include "dcacn/util/pickle.h"
#include "train_util.h"

namespace dcacn {
namespace {

using test::expect_error_containing;

// LibTorch 1.x keys an optimizer's state by the printed TensorImpl address, 2.x by the address.
template <typename Key>
Key adam_state_key(c10::TensorImpl* impl) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream address;
    address << impl;
    return address.str();
  } else {
    return impl;
  }
}

// Adam's state per parameter (step, first and second moments), in parameter order: the
// serialized bytes differ between equal states (they name parameters by their addresses).
std::vector<torch::Tensor> adam_state(const Checkpoint& ck) {
  DCACN model(ck.network);
  torch::optim::Adam adam(model->parameters());
  load_optimizer_bytes(adam, ck.optimizer, "checkpoint");
  std::vector<torch::Tensor> out;
  for (const auto& p : adam.param_groups().front().params()) {
    using Key = typename std::decay_t<decltype(adam.state())>::key_type;
    const auto it = adam.state().find(adam_state_key<Key>(p.unsafeGetTensorImpl()));
    if (it == adam.state().end()) continue;
    const auto& s = static_cast<const torch::optim::AdamParamState&>(*it->second);
    out.push_back(torch::tensor(s.step(), torch::kInt64));
    out.push_back(s.exp_avg());
    out.push_back(s.exp_avg_sq());
  }
  return out;
}

// Every entry of two checkpoints but their configuration (which names the data) and timings;
// their pipelines' text too unless `same_pipeline` is false.
void expect_same_checkpoints(const std::string& a, const std::string& b,
                             bool same_pipeline = true) {
  const Checkpoint x = load_checkpoint(a), y = load_checkpoint(b);
  ASSERT_EQ(x.model.size(), y.model.size());
  for (size_t i = 0; i < x.model.size(); ++i) {
    EXPECT_EQ(x.model[i].first, y.model[i].first);
    EXPECT_TRUE(x.model[i].second.equal(y.model[i].second)) << x.model[i].first;
  }
  const auto ox = adam_state(x), oy = adam_state(y);
  ASSERT_EQ(ox.size(), oy.size());
  EXPECT_FALSE(ox.empty());
  for (size_t i = 0; i < ox.size(); ++i) EXPECT_TRUE(ox[i].equal(oy[i])) << "Adam state " << i;
  EXPECT_TRUE(x.augment_rng.equal(y.augment_rng));
  EXPECT_EQ(x.epoch, y.epoch);
  EXPECT_EQ(x.batch_in_epoch, y.batch_in_epoch);
  EXPECT_EQ(x.step, y.step);
  EXPECT_EQ(x.loss_sums, y.loss_sums);
  EXPECT_EQ(x.loss_steps, y.loss_steps);
  EXPECT_EQ(x.stage, y.stage);
  EXPECT_EQ(x.stage_start_step, y.stage_start_step);
  if (same_pipeline) {
    EXPECT_EQ(x.pipeline, y.pipeline);
  }
  EXPECT_EQ(x.stage_index, y.stage_index);
  EXPECT_EQ(x.stage_started, y.stage_started);
  EXPECT_EQ(x.stage_start_epoch, y.stage_start_epoch);
  EXPECT_EQ(x.metrics_rows, y.metrics_rows);
  EXPECT_EQ(x.pseudo_labels.defined(), y.pseudo_labels.defined());
  if (x.pseudo_labels.defined()) {
    EXPECT_TRUE(x.pseudo_labels.equal(y.pseudo_labels));
  }
  EXPECT_DOUBLE_EQ(x.best_acc, y.best_acc);
  ASSERT_EQ(x.stage_state.size(), y.stage_state.size());
  for (size_t i = 0; i < x.stage_state.size(); ++i) {
    EXPECT_EQ(x.stage_state[i].first, y.stage_state[i].first);
    EXPECT_TRUE(x.stage_state[i].second.equal(y.stage_state[i].second)) << x.stage_state[i].first;
  }
}

// Whether any weight of two checkpoints' networks (of the same shapes) differs.
bool weights_differ(const std::string& a, const std::string& b) {
  const Checkpoint x = load_checkpoint(a), y = load_checkpoint(b);
  EXPECT_EQ(x.model.size(), y.model.size());
  for (size_t i = 0; i < x.model.size() && i < y.model.size(); ++i) {
    if (!x.model[i].second.equal(y.model[i].second)) return true;
  }
  return false;
}

// Every column of two metrics files but `skip` (and the timings).
void expect_same_rows(const std::string& a, const std::string& b,
                      std::vector<std::string> skip = {}) {
  skip.push_back("wall_seconds");
  skip.push_back("images_per_second");
  const auto ra = test::read_metrics(a), rb = test::read_metrics(b);
  ASSERT_EQ(ra.size(), rb.size());
  for (size_t i = 0; i < ra.size(); ++i) {
    for (const auto& [key, value] : ra[i]) {
      if (std::find(skip.begin(), skip.end(), key) != skip.end()) continue;
      EXPECT_EQ(value, rb[i].at(key)) << "row " << i << ", column " << key;
    }
  }
}

// Writes labels [N] as the data folder's IDX label file.
void write_labels(const std::string& dir, const torch::Tensor& labels) {
  auto bytes = test::idx_header(1, {static_cast<uint32_t>(labels.size(0))});
  const torch::Tensor u8 = labels.to(torch::kUInt8).contiguous();
  bytes.insert(bytes.end(), u8.data_ptr<uint8_t>(), u8.data_ptr<uint8_t>() + u8.numel());
  test::write_bytes(dir + "/train-labels-idx1-ubyte", bytes);
}

constexpr const char* kNeighbours = "neighbours:space=pixels:k=5:heads=2:passes=3";
constexpr const char* kSelfLabel = "selflabel:steps=5:threshold=0.5:quota=1";
constexpr const char* kScan = "scan:steps=4:space=pixels:k=5";
constexpr const char* kReliable =
    "selflabel:steps=4:labels=reliable:threshold=0.5:agreement=0.6:space=features:k=5";

class SessionTest : public test::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    images_ = test::write_two_square_idx(path("data"), 128);
  }

  TrainConfig tiny(const std::string& stages) const {
    TrainConfig c = test::tiny_train_config(path("data"));
    c.stages = stages;
    return c;
  }

  TrainResult run_new(const TrainConfig& c, const std::string& dir, int64_t step_limit = -1) {
    Trainer t(c, path(dir));
    if (step_limit >= 0) t.set_step_limit(step_limit);
    return t.run();
  }

  TrainResult resume(const std::string& dir, int64_t step_limit = -1,
                     const ResumeOverrides& o = {}) {
    Trainer t(path(dir), o);
    if (step_limit >= 0) t.set_step_limit(step_limit);
    return t.run();
  }

  torch::Tensor images_;  // [128, 12, 12] uint8
};

// SCAN's order, which the trainer of earlier versions could not run: contrastive, then the
// neighbour stage, then self-labelling of the whole network from the neighbour head.
std::string scan_order() {
  return std::string("contrastive:steps=6,") + kNeighbours + "," + kSelfLabel;
}

TEST_F(SessionTest, ScansOrderRunsAndResumesBitIdenticallyInsideEveryStage) {
  const TrainResult full = run_new(tiny(scan_order()), "a");
  EXPECT_EQ(full.status, TrainResult::Status::kBudgetReached);
  EXPECT_EQ(full.step, 11);
  const auto rows = test::read_metrics(path("a/metrics.csv"));
  // Epoch 1 (step 4), the contrastive budget (6), the neighbour stage (6), epoch 3 of the
  // self-labelling stage (8) and its budget (11).
  ASSERT_EQ(rows.size(), 5u);
  const std::vector<std::string> stages = {"1", "1", "3", "2", "2"};
  const std::vector<std::string> steps = {"4", "6", "6", "8", "11"};
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].at("stage"), stages[i]) << i;
    EXPECT_EQ(rows[i].at("step"), steps[i]) << i;
  }
  // Interrupted inside the contrastive stage, inside the neighbour stage (the step limit is
  // reached when it starts: the checkpoint from before it stays) and inside self-labelling.
  EXPECT_EQ(run_new(tiny(scan_order()), "b", 3).status, TrainResult::Status::kInterrupted);
  EXPECT_EQ(resume("b", 6).status, TrainResult::Status::kInterrupted);
  Checkpoint at = load_checkpoint(path("b/checkpoints/last.pt"));
  EXPECT_EQ(at.stage_index, 0);  // the contrastive stage's last checkpoint
  EXPECT_EQ(at.step, 6);
  EXPECT_EQ(resume("b", 9).status, TrainResult::Status::kInterrupted);
  at = load_checkpoint(path("b/checkpoints/last.pt"));
  EXPECT_EQ(at.stage_index, 2);
  EXPECT_TRUE(at.stage_started);
  EXPECT_EQ(at.stage_start_step, 6);
  EXPECT_EQ(resume("b").step, 11);
  expect_same_checkpoints(path("a/checkpoints/last.pt"), path("b/checkpoints/last.pt"));
  expect_same_rows(path("a/metrics.csv"), path("b/metrics.csv"));
}

TEST_F(SessionTest, ResumeInsideTheStagesInThePresetsRealModeIsBitIdentical) {
  TrainConfig c = tiny(scan_order());
  c.bf16 = true;
  c.channels_last = true;
  run_new(c, "a");
  run_new(c, "b", 5);
  resume("b", 7);
  resume("b");
  expect_same_checkpoints(path("a/checkpoints/last.pt"), path("b/checkpoints/last.pt"));
  expect_same_rows(path("a/metrics.csv"), path("b/metrics.csv"));
}

TEST_F(SessionTest, StagesAppendedToAFinishedRunTrainAsIfPlanned) {
  run_new(tiny(scan_order()), "planned");
  ASSERT_EQ(run_new(tiny("contrastive:steps=6"), "run").status,
            TrainResult::Status::kBudgetReached);
  expect_error_containing([&] { Trainer(path("run"), ResumeOverrides()); },
                          {"contrastive stage's step budget of 6 steps", "a stage after it"});
  ResumeOverrides more;
  more.stages = scan_order();
  EXPECT_EQ(resume("run", -1, more).step, 11);
  expect_same_checkpoints(path("planned/checkpoints/last.pt"), path("run/checkpoints/last.pt"));
  expect_same_rows(path("planned/metrics.csv"), path("run/metrics.csv"));
  // Its budget is spent: a larger one, or a longer pipeline, continues it; begun stages cannot
  // change.
  expect_error_containing([&] { resume("run", -1, more); },
                          {"selflabel stage's step budget of 5 steps", "a stage after it"});
  more.stages = std::string("contrastive:steps=6,") + kNeighbours + ",selflabel:steps=5";
  expect_error_containing([&] { resume("run", -1, more); },
                          {"stage 3 as 'selflabel:lr=0.0001:threshold=0.9", "began as",
                           "threshold=0.5", "fixed once it begins"});
  more.stages = "contrastive:steps=6";
  expect_error_containing([&] { resume("run", -1, more); }, {"cannot be left out"});
}

// The stages that train the network on neighbours and on reliable labels resume bit-identically
// inside themselves: their neighbours, labels and guard travel in the checkpoint.
TEST_F(SessionTest, ScanAndReliableSelfLabellingResumeBitIdenticallyInsideThemselves) {
  const std::string stages = std::string("contrastive:steps=6,") + kNeighbours + "," + kScan + "," +
                             kReliable + ":guard=off";
  EXPECT_EQ(run_new(tiny(stages), "a").step, 14);
  const auto rows = test::read_metrics(path("a/metrics.csv"));
  std::vector<std::string> kinds;
  for (const auto& r : rows) kinds.push_back(r.at("stage"));
  EXPECT_EQ(kinds, (std::vector<std::string>{"1", "1", "3", "4", "4", "2", "2"}));
  // The scan rows hold the neighbour objective: its total is consistency - 5 x entropy.
  const auto& scan = rows[4];
  EXPECT_EQ(scan.at("instance_loss"), "0.00000");
  EXPECT_NEAR(std::stod(scan.at("loss")),
              std::stod(scan.at("cluster_loss")) - 5 * std::stod(scan.at("entropy_term")), 5e-5);
  // Reliable labels: a share of the images, fixed, with their statistics in the rows.
  EXPECT_NE(rows.back().at("pseudo_labelled"), "");
  run_new(tiny(stages), "b", 8);  // inside scan
  Checkpoint at = load_checkpoint(path("b/checkpoints/last.pt"));
  ASSERT_EQ(at.stage_index, 2);
  ASSERT_EQ(at.stage_state.size(), 1u);
  EXPECT_EQ(at.stage_state[0].first, "neighbours");
  EXPECT_EQ(at.stage_state[0].second.sizes(), (std::vector<int64_t>{128, 5}));
  resume("b", 12);  // inside reliable self-labelling
  at = load_checkpoint(path("b/checkpoints/last.pt"));
  ASSERT_EQ(at.stage_index, 3);
  ASSERT_EQ(at.stage_state.size(), 1u);
  EXPECT_EQ(at.stage_state[0].first, "pseudo_labels");
  const torch::Tensor labels = at.stage_state[0].second;
  EXPECT_EQ(labels.sizes(), (std::vector<int64_t>{128}));
  EXPECT_TRUE(labels.ge(-1).logical_and(labels.lt(2)).all().item<bool>());
  resume("b");
  expect_same_checkpoints(path("a/checkpoints/last.pt"), path("b/checkpoints/last.pt"));
  expect_same_rows(path("a/metrics.csv"), path("b/metrics.csv"));
}

// Neighbour views: the contrastive stage mines its neighbours when it begins, keeps them in a
// checkpoint taken inside it, and resumes there bit-identically; the views they give change
// what the stage learns.
TEST_F(SessionTest, ContrastiveNeighbourViewsResumeBitIdenticallyAndChangeTheTraining) {
  const std::string stages = "contrastive:steps=6:neighbours=1:k=5";
  run_new(tiny(stages), "a");
  run_new(tiny(stages), "b", 3);
  const Checkpoint at = load_checkpoint(path("b/checkpoints/last.pt"));
  ASSERT_EQ(at.stage_state.size(), 1u);
  EXPECT_EQ(at.stage_state[0].first, "neighbours");
  EXPECT_EQ(at.stage_state[0].second.sizes(), (std::vector<int64_t>{128, 5}));
  resume("b");
  expect_same_checkpoints(path("a/checkpoints/last.pt"), path("b/checkpoints/last.pt"));
  expect_same_rows(path("a/metrics.csv"), path("b/metrics.csv"));
  run_new(tiny("contrastive:steps=6"), "plain");
  EXPECT_TRUE(weights_differ(path("a/checkpoints/last.pt"), path("plain/checkpoints/last.pt")));
  EXPECT_TRUE(load_checkpoint(path("plain/checkpoints/last.pt")).stage_state.empty());
}

// Weight averaging: the network after the stage is the average of the weights after every step
// (decays (1 + u) / (3 + u) up to 0.9 here: a window of a half), scored in a row of its own after
// the network as trained; the training itself is the plain run's, and a run stopped inside the
// stage resumes bit-identically.
TEST_F(SessionTest, TheWeightAverageTakesTheNetworksPlaceAndResumesBitIdentically) {
  const std::string stages = "contrastive:steps=6:ema=0.9:ema_window=0.5";
  run_new(tiny(stages), "a");
  run_new(tiny("contrastive:steps=6"), "plain");
  run_new(tiny(stages), "b", 5);
  const Checkpoint at = load_checkpoint(path("b/checkpoints/last.pt"));
  ASSERT_FALSE(at.stage_state.empty());
  EXPECT_EQ(at.stage_state[0].first, "average/updates");
  EXPECT_EQ(at.stage_state[0].second.item<int64_t>(), 5);  // the weights after steps 0-4
  // The average after steps 5 and 6, from the checkpoint's and the plain run's weights.
  const Checkpoint plain = load_checkpoint(path("plain/checkpoints/last.pt"));
  std::map<std::string, torch::Tensor> expected;
  for (const auto& [name, tensor] : at.stage_state) {
    if (name.rfind("average/weights/", 0) == 0) expected[name.substr(16)] = tensor.clone();
  }
  ASSERT_EQ(expected.size(), at.model.size());
  const auto fold = [&](const std::vector<std::pair<std::string, torch::Tensor>>& weights,
                        double decay) {
    for (const auto& [name, tensor] : weights) {
      torch::Tensor& avg = expected.at(name);
      avg = avg.is_floating_point() ? avg * decay + tensor * (1 - decay) : tensor.clone();
    }
  };
  fold(at.model, 6.0 / 8);
  fold(plain.model, 7.0 / 9);
  const Checkpoint a = load_checkpoint(path("a/checkpoints/last.pt"));
  bool any_differs = false;
  for (size_t i = 0; i < a.model.size(); ++i) {
    const auto& [name, tensor] = a.model[i];
    EXPECT_TRUE(torch::allclose(tensor, expected.at(name), 1e-5, 1e-6)) << name;
    any_differs = any_differs || !tensor.equal(plain.model[i].second);
  }
  EXPECT_TRUE(any_differs);
  // Two rows at the last step (as trained, then averaged) against the plain run's one.
  const auto rows = test::read_metrics(path("a/metrics.csv"));
  const auto plain_rows = test::read_metrics(path("plain/metrics.csv"));
  ASSERT_EQ(rows.size(), plain_rows.size() + 1);
  EXPECT_EQ(rows[rows.size() - 1].at("step"), "6");
  EXPECT_EQ(rows[rows.size() - 2].at("step"), "6");
  EXPECT_EQ(rows[rows.size() - 2].at("acc"), plain_rows.back().at("acc"));
  resume("b");
  expect_same_checkpoints(path("a/checkpoints/last.pt"), path("b/checkpoints/last.pt"));
  expect_same_rows(path("a/metrics.csv"), path("b/metrics.csv"));
  // With a stage after it, a run stopped at the stage's last step or inside the next ends the same.
  const std::string two = stages + "," + kNeighbours;
  run_new(tiny(two), "c");
  for (const int64_t limit : {5, 6}) {
    const std::string dir = "d" + std::to_string(limit);
    run_new(tiny(two), dir, limit);
    resume(dir);
    expect_same_checkpoints(path("c/checkpoints/last.pt"), path(dir + "/checkpoints/last.pt"));
    expect_same_rows(path("c/metrics.csv"), path(dir + "/metrics.csv"));
  }
}

// Progressive resizing: the early steps train exactly as a run whose views are that small (blur
// off, so that the scaled sigmas do not matter), the later ones at full size, and a run
// interrupted on either side of the switch resumes bit-identically.
TEST_F(SessionTest, ProgressiveResizingTrainsSmallViewsFirstAndResumesBitIdentically) {
  TrainConfig big = tiny("contrastive:steps=2:early_size=0.5:early_share=0.9");
  big.views = "2x12@0.5-1:blur=0,2x8@0.2-0.5:blur=0";
  TrainConfig small = tiny("contrastive:steps=2");
  small.views = "2x6@0.5-1:blur=0,2x4@0.2-0.5:blur=0";
  run_new(big, "early");
  run_new(small, "small");
  expect_same_checkpoints(path("early/checkpoints/last.pt"), path("small/checkpoints/last.pt"),
                          /*same_pipeline=*/false);
  // Over 6 steps with the switch after 3, the run differs from one at full size throughout.
  TrainConfig resized = tiny("contrastive:steps=6:early_size=0.5:early_share=0.5");
  resized.views = big.views;
  TrainConfig full = tiny("contrastive:steps=6");
  full.views = big.views;
  run_new(resized, "a");
  run_new(full, "full");
  EXPECT_TRUE(weights_differ(path("a/checkpoints/last.pt"), path("full/checkpoints/last.pt")));
  for (const int64_t limit : {2, 4}) {
    const std::string dir = "b" + std::to_string(limit);
    run_new(resized, dir, limit);
    resume(dir);
    expect_same_checkpoints(path("a/checkpoints/last.pt"), path(dir + "/checkpoints/last.pt"));
    expect_same_rows(path("a/metrics.csv"), path(dir + "/metrics.csv"));
  }
}

// On the tiny data both stages make the clusters fit the neighbours worse (scan collapses them
// into one, or nearly): each guard puts back the network its stage started from, which is the
// neighbour stage's, and scores it in a row of its own. Resumed inside the guarded stages, the run
// ends the same.
TEST_F(SessionTest, GuardsUndoStagesThatFitTheNeighboursWorse) {
  const std::string stages =
      std::string("contrastive:steps=6,") + kNeighbours + "," + kScan + ":guard=on," + kReliable;
  run_new(tiny(stages), "a");
  run_new(tiny(std::string("contrastive:steps=6,") + kNeighbours), "start");
  const auto rows = test::read_metrics(path("a/metrics.csv"));
  std::vector<std::string> kinds, steps;
  for (const auto& r : rows) {
    kinds.push_back(r.at("stage"));
    steps.push_back(r.at("step"));
  }
  // A guard's row follows its stage's last, at the same step.
  EXPECT_EQ(kinds, (std::vector<std::string>{"1", "1", "3", "4", "4", "4", "2", "2", "2"}));
  EXPECT_EQ(steps, (std::vector<std::string>{"4", "6", "6", "8", "10", "10", "12", "14", "14"}));
  EXPECT_GT(std::stod(rows[4].at("largest_cluster_fraction")), 0.95);  // scan (nearly) collapsed
  for (size_t i : {5u, 8u}) {
    for (const char* column : {"acc", "nmi", "ari", "largest_cluster_fraction"}) {
      EXPECT_EQ(rows[i].at(column), rows[2].at(column)) << "row " << i << ", " << column;
    }
  }
  const Checkpoint end = load_checkpoint(path("a/checkpoints/last.pt"));
  const Checkpoint start = load_checkpoint(path("start/checkpoints/last.pt"));
  ASSERT_EQ(end.model.size(), start.model.size());
  for (size_t i = 0; i < end.model.size(); ++i) {
    EXPECT_TRUE(end.model[i].second.equal(start.model[i].second)) << end.model[i].first;
  }
  // The guard's state: its graph, the fit at the start and the start network.
  run_new(tiny(stages), "b", 9);
  const Checkpoint inside = load_checkpoint(path("b/checkpoints/last.pt"));
  std::vector<std::string> names;
  for (const auto& [name, tensor] : inside.stage_state) names.push_back(name);
  ASSERT_GE(names.size(), 4u);
  EXPECT_EQ(names[0], "neighbours");
  EXPECT_EQ(names[1], "guard/graph");
  EXPECT_EQ(names[2], "guard/start_fit");
  EXPECT_EQ(names[3], "guard/model/" + start.model[0].first);
  EXPECT_EQ(names.size(), 3 + start.model.size());
  resume("b", 13);
  resume("b");
  expect_same_checkpoints(path("a/checkpoints/last.pt"), path("b/checkpoints/last.pt"));
  expect_same_rows(path("a/metrics.csv"), path("b/metrics.csv"));
}

// The consistency of the kept head, recomputed from the saved model alone: its probabilities on
// the un-augmented images and each image's 5 nearest neighbours in (centred) pixel space found
// by brute force.
// --time-budget with --stages is the whole run's: a stage whose share is the whole budget ends
// when the run's clock reaches it, less what the stages after it need, and those still run.
TEST_F(SessionTest, TheRunsTimeBudgetEndsTheStagesAndLeavesTheLastOnesTheirTime) {
  TrainConfig c = tiny(std::string("contrastive:share=1:steps=100000,") + kNeighbours);
  c.time_budget_minutes = 0.02;  // 1.2 s
  const TrainResult r = run_new(c, "run");
  EXPECT_EQ(r.status, TrainResult::Status::kBudgetReached);
  EXPECT_GT(r.step, 0);
  EXPECT_LT(r.step, 100000);
  const auto rows = test::read_metrics(path("run/metrics.csv"));
  ASSERT_GE(rows.size(), 2u);
  EXPECT_EQ(rows.back().at("stage"), "3");  // the neighbour stage ran after the budget's end
  EXPECT_TRUE(std::filesystem::exists(path("run/final.json")));
}

// Time a caller keeps for its work after the run (`cluster`'s report) ends the stages that much
// earlier: kept longer than the whole budget, the contrastive stage stops at its first check,
// and the neighbour stage and the final scoring still run.
TEST_F(SessionTest, TimeKeptForAfterTheRunEndsTheStagesEarlier) {
  TrainConfig c = tiny(std::string("contrastive:share=1:steps=100000,") + kNeighbours);
  c.time_budget_minutes = 0.05;  // 3 s: several steps even on a loaded machine
  const TrainResult plain = run_new(c, "plain");
  Trainer t(c, path("kept"));
  t.keep_after_run(3600);
  const TrainResult kept = t.run();
  EXPECT_EQ(kept.status, TrainResult::Status::kBudgetReached);
  EXPECT_LE(kept.step, 1);
  EXPECT_GT(plain.step, kept.step);
  const auto rows = test::read_metrics(path("kept/metrics.csv"));
  ASSERT_GE(rows.size(), 1u);
  EXPECT_EQ(rows.back().at("stage"), "3");
  EXPECT_TRUE(std::filesystem::exists(path("kept/final.json")));
}

// The run's time budget also ends a whole stage that runs past it: a neighbour stage asked for
// far more passes than the budget holds (each pass is one step on these 128 images) stops after
// the pass that used the budget up, and the run ends with its final scoring soon after.
TEST_F(SessionTest, TheRunBudgetEndsTheNeighbourStagesPasses) {
  TrainConfig c = tiny(
      "contrastive:share=1:steps=100000,neighbours:space=pixels:k=5:heads=2:passes=400000:"
      "patience=0");
  c.time_budget_minutes = 0.02;  // 1.2 s; the 400,000 passes alone take minutes
  const auto start = std::chrono::steady_clock::now();
  const TrainResult r = run_new(c, "run");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.status, TrainResult::Status::kBudgetReached);
  EXPECT_LT(seconds, 30.0);
  const auto rows = test::read_metrics(path("run/metrics.csv"));
  ASSERT_GE(rows.size(), 1u);
  EXPECT_EQ(rows.back().at("stage"), "3");
  EXPECT_TRUE(std::filesystem::exists(path("run/final.json")));
}

// Periodic evaluations score the fixed sample of --eval-images images; a stage's end, the rows
// the next stage starts from and the final score are of every image.
TEST_F(SessionTest, PeriodicEvaluationsScoreTheSampleAndStageEndsEveryImage) {
  TrainConfig c = tiny(std::string("contrastive:epochs=3,") + kNeighbours);
  c.eval_images = 40;
  run_new(c, "epochs");
  const auto rows = test::read_metrics(path("epochs/metrics.csv"));
  std::vector<std::string> images;
  for (const auto& r : rows) images.push_back(r.at("eval_images"));
  EXPECT_EQ(images, (std::vector<std::string>{"40", "40", "128", "128"}));
  // Every 60 microseconds of the run's clock: after nearly every step, inside epochs too.
  c.stages = std::string("contrastive:steps=6,") + kNeighbours;
  c.eval_every_minutes = 1e-6;
  run_new(c, "minutes");
  const auto timed = test::read_metrics(path("minutes/metrics.csv"));
  ASSERT_GE(timed.size(), 6u);
  for (size_t i = 0; i + 2 < timed.size(); ++i) {
    EXPECT_EQ(timed[i].at("eval_images"), "40") << i;
  }
  EXPECT_NE(timed[1].at("epoch"), "1.000");  // inside the first epoch (4 batches)
  EXPECT_EQ(timed[timed.size() - 2].at("step"), "6");
  EXPECT_EQ(timed[timed.size() - 2].at("eval_images"), "128");
  EXPECT_EQ(timed.back().at("stage"), "3");
  EXPECT_EQ(timed.back().at("eval_images"), "128");
}

TEST_F(SessionTest, TheNeighbourRowHoldsTheKeptHeadsConsistencyOverAllNeighbours) {
  // Unwhitened pixels: the neighbours below are mined the same way.
  run_new(tiny("contrastive:steps=6,neighbours:space=pixels:whiten=off:k=5:heads=2:passes=3"),
          "run");
  const auto rows = test::read_metrics(path("run/metrics.csv"));
  ASSERT_EQ(rows.back().at("stage"), "3");
  TrainedModel trained = load_trained_model(path("run"), "cpu");
  const torch::Tensor p = trained.run(images_.unsqueeze(1), trained.inference_options())
                              .probabilities.to(torch::kFloat64);
  torch::Tensor x = images_.reshape({128, -1}).to(torch::kFloat64) / 255.0;
  x = x - x.mean(0, true);
  x = x / x.norm(2, 1, true);
  torch::Tensor similarity = x.mm(x.t());
  similarity.fill_diagonal_(-2.0);
  const torch::Tensor nb = std::get<1>(similarity.topk(5, 1));  // [128, 5]
  const torch::Tensor agree =
      (p.unsqueeze(1) * p.index_select(0, nb.flatten()).view({128, 5, 2})).sum(2);
  const double consistency = -agree.log().mean().item<double>();
  // The row keeps 5 decimals; the stage computes in float.
  EXPECT_NEAR(std::stod(rows.back().at("cluster_loss")), consistency, 2e-5);
  // The total is the consistency less 5 times the entropy of the mean assignment.
  const torch::Tensor m = p.mean(0);
  const double entropy = -(m * m.log()).sum().item<double>();
  EXPECT_NEAR(std::stod(rows.back().at("entropy_term")), entropy, 2e-5);
  EXPECT_NEAR(std::stod(rows.back().at("loss")), consistency - 5 * entropy, 5e-5);
}

// space=auto: pixels, features and both are each tried; the file lists how well each space's
// clusters fit every space's neighbours, the kept space has the highest mean fit, and the
// network is the one a stage told that space gives.
TEST_F(SessionTest, TheAutoSpaceKeepsTheSpaceWhoseClustersAllSpacesSupportBest) {
  run_new(tiny("contrastive:steps=6,neighbours:space=auto:k=5:heads=2:passes=3"), "auto");
  std::ifstream in(path("auto/neighbour_spaces.csv"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "space,fit_pixels,fit_features,fit_both,mean_fit,chosen");
  std::string kept, chosen;
  double best = -2;
  int chosen_rows = 0;
  for (const std::string space : {"pixels", "features", "both"}) {
    ASSERT_TRUE(std::getline(in, line)) << space;
    std::stringstream fields(line);
    std::vector<std::string> f;
    for (std::string x; std::getline(fields, x, ',');) f.push_back(x);
    ASSERT_EQ(f.size(), 6u) << line;
    EXPECT_EQ(f[0], space);
    const double mean = (std::stod(f[1]) + std::stod(f[2]) + std::stod(f[3])) / 3;
    EXPECT_NEAR(std::stod(f[4]), mean, 2e-6) << line;
    if (std::stod(f[4]) > best) best = std::stod(f[4]), kept = space;
    if (f[5] == "1") ++chosen_rows, chosen = f[0];
  }
  EXPECT_EQ(chosen_rows, 1);
  EXPECT_EQ(chosen, kept);
  run_new(tiny("contrastive:steps=6,neighbours:space=" + kept + ":k=5:heads=2:passes=3"), "one");
  const Checkpoint a = load_checkpoint(path("auto/checkpoints/last.pt"));
  const Checkpoint b = load_checkpoint(path("one/checkpoints/last.pt"));
  ASSERT_EQ(a.model.size(), b.model.size());
  for (size_t i = 0; i < a.model.size(); ++i) {
    EXPECT_TRUE(a.model[i].second.equal(b.model[i].second)) << a.model[i].first;
  }
  TrainConfig c = tiny("contrastive:steps=6,scan:steps=2:space=auto");
  expect_error_containing([&] { build_pipeline(c); }, {"scan space must be pixels"});
}

// own=on: the network's head competes with the heads and the stage keeps the clusters that fit
// the neighbours of pixels and features better. After the contrastive stage alone the heads win
// (the network is that of own=off); after a neighbour stage, heads that cannot learn (lr 1e-12:
// their random start) lose, and the network is that of the first neighbour stage alone.
TEST_F(SessionTest, TheNetworksOwnHeadCompetesWithTheHeadsOnTheirFit) {
  auto same_network = [&](const std::string& a, const std::string& b) {
    const Checkpoint x = load_checkpoint(path(a + "/checkpoints/last.pt"));
    const Checkpoint y = load_checkpoint(path(b + "/checkpoints/last.pt"));
    if (x.model.size() != y.model.size()) return false;
    for (size_t i = 0; i < x.model.size(); ++i) {
      if (!x.model[i].second.equal(y.model[i].second)) return false;
    }
    return true;
  };
  const std::string first = std::string("contrastive:steps=6,") + kNeighbours;
  run_new(tiny(first), "off");
  run_new(tiny(first + ":own=on"), "on");
  run_new(tiny("contrastive:steps=6"), "contrastive");
  EXPECT_TRUE(same_network("on", "off"));
  EXPECT_FALSE(same_network("on", "contrastive"));
  run_new(tiny(first + "," + kNeighbours + ":lr=1e-12:own=on"), "second");
  EXPECT_TRUE(same_network("second", "off"));
  run_new(tiny(first + "," + kNeighbours + ":lr=1e-12"), "second_off");
  EXPECT_FALSE(same_network("second_off", "off"));
  TrainConfig c = tiny(first + ":own=on");
  c.k_range = "2-4";
  expect_error_containing([&] { build_pipeline(c); }, {"own=on", "--k-range 2-4"});
}

// A checkpoint as version 3 wrote it: stage numbers of the fixed order, best_acc and the
// pseudo-label counts, no pipeline or position.
void rewrite_as_version_3(const std::string& file) {
  auto dict = read_pickle(file, file).toGenericDict();
  for (const char* key : {"pipeline", "stage_index", "stage_started", "stage_start_epoch",
                          "metrics_rows", "pseudo_labels"}) {
    EXPECT_EQ(dict.erase(key), 1u) << key;
  }
  dict.insert_or_assign("format_version", int64_t{3});
  dict.insert_or_assign("best_acc", 0.5);
  dict.insert_or_assign("pseudo_counts", torch::zeros({0}, torch::kInt64));
  write_pickle(file, dict);
}

// Runs of version 3 resume into the pipeline their flags describe: inside the contrastive
// stage, and at the start of self-labelling.
TEST_F(SessionTest, Version3CheckpointsResumeInTheirStage) {
  TrainConfig c = test::tiny_train_config(path("data"));
  c.selflabel_steps = 6;
  c.selflabel_threshold = 0.5;
  c.selflabel_quota = 1.0;
  run_new(c, "a");
  for (int64_t limit : {5, 8}) {
    const std::string dir = "b" + std::to_string(limit);
    run_new(c, dir, limit);
    rewrite_as_version_3(path(dir + "/checkpoints/last.pt"));
    const Checkpoint old = load_checkpoint(path(dir + "/checkpoints/last.pt"));
    ASSERT_EQ(old.format_version, 3);
    EXPECT_EQ(old.stage, limit == 8 ? 2 : 1);
    EXPECT_EQ(resume(dir).step, 14);
    expect_same_checkpoints(path("a/checkpoints/last.pt"), path(dir + "/checkpoints/last.pt"));
    expect_same_rows(path("a/metrics.csv"), path(dir + "/metrics.csv"));
  }
}

// Every kind of stage, two of them twice, on the data with its labels, with the labels
// permuted, and without labels (the same images as a flat folder): weights, optimiser,
// generators, every checkpoint entry and every unscored metrics column are the same.
TEST_F(SessionTest, NoStageSeesTheLabels) {
  const std::string stages = std::string("contrastive:steps=5:neighbours=0.5:k=5,") + kNeighbours +
                             "," + kScan + "," + kSelfLabel + "," + kReliable +
                             ",neighbours:space=auto:k=5:heads=2:passes=2,contrastive:steps=2";
  run_new(tiny(stages), "labelled", 13);  // stopped inside self-labelling: pseudo-labels pending
  const std::string stopped = path("labelled-stopped.pt");
  std::filesystem::copy_file(path("labelled/checkpoints/last.pt"), stopped);
  resume("labelled");
  // Labels permuted: the same images, another label for each.
  torch::manual_seed(11);
  const torch::Tensor labels = torch::arange(128) % 2;
  write_labels(path("data"), labels.index_select(0, torch::randperm(128)));
  run_new(tiny(stages), "permuted", 13);
  expect_same_checkpoints(stopped, path("permuted/checkpoints/last.pt"));
  resume("permuted");
  // No labels: a flat folder of the same images.
  std::filesystem::create_directories(path("flat"));
  for (int64_t i = 0; i < 128; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "/img_%03lld.png", static_cast<long long>(i));
    write_png(path("flat") + name, images_[i].unsqueeze(0));
  }
  TrainConfig flat = tiny(stages);
  flat.dataset = "folder";
  flat.data_path = path("flat");
  flat.split = "all";
  flat.channels = 1;
  flat.folder_image_size = 12;
  // A folder's default views differ from MNIST's: the same views, their jitter and blur given.
  flat.views = "2x12@0.5-1:jitter=0.5:blur=0,2x6@0.2-0.5:jitter=0.5:blur=0.5";
  // The folder holds the same images, in the same order.
  const Dataset read = load_dataset(dataset_spec(flat));
  ASSERT_FALSE(read.has_labels());
  ASSERT_TRUE(read.images.equal(images_.unsqueeze(1)));
  ASSERT_TRUE(read.images.is_contiguous()) << read.images.strides();
  run_new(flat, "unlabelled");
  const std::vector<std::string> scored = {"acc", "nmi", "ari", "pseudo_acc"};
  for (const char* other : {"permuted", "unlabelled"}) {
    SCOPED_TRACE(other);
    expect_same_checkpoints(path("labelled/checkpoints/last.pt"),
                            path(std::string(other) + "/checkpoints/last.pt"));
    expect_same_rows(path("labelled/metrics.csv"), path(std::string(other) + "/metrics.csv"),
                     scored);
  }
  // The scores themselves do see the labels: permuted ones score near chance.
  const auto good = test::read_metrics(path("labelled/metrics.csv")).back();
  const auto chance = test::read_metrics(path("permuted/metrics.csv")).back();
  EXPECT_GT(std::stod(good.at("acc")), std::stod(chance.at("acc")));
  EXPECT_EQ(test::read_metrics(path("unlabelled/metrics.csv")).back().at("acc"), "");
}

}  // namespace
}  // namespace dcacn
