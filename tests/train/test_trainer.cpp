#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "../test_util.h"
#include "dcacn/infer/inference.h"
#include "dcacn/model/cbam_ops.h"
#include "dcacn/model/state_dict.h"
#include "dcacn/run/checkpoint.h"
#include "dcacn/train/metrics_log.h"
#include "dcacn/train/trainer.h"
#include "dcacn/util/error.h"
#include "train_util.h"

namespace dcacn {
namespace {

using test::idx_header;

using test::expect_error_containing;
using test::read_metrics;

class TrainerTest : public test::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    // 128 training images of 12x12 in two groups; no test split is needed for --split train.
    test::write_two_square_idx(path("data"), 128);
  }

  TrainConfig tiny() const { return test::tiny_train_config(path("data")); }

  // The mode the CPU preset trains in: bf16 autocast, channels-last, fused CBAM kernels.
  TrainConfig tiny_real_mode() const {
    TrainConfig c = tiny();
    c.bf16 = true;
    c.channels_last = true;
    return c;
  }

  // Runs a new run to its end.
  TrainResult run_new(const TrainConfig& c, const std::string& dir) {
    Trainer t(c, path(dir));
    return t.run();
  }
};

// ACC of a two-cluster run's saved model on its two-class data, computed apart from the
// trainer: its predictions through the inference path, and the better of the two one-to-one
// matchings of clusters to classes.
double two_cluster_acc(const std::string& run) {
  TrainedModel trained = load_trained_model(run, "cpu");
  const Dataset data = load_dataset_for(trained);
  const torch::Tensor predicted =
      trained.run(data.images, trained.inference_options()).probabilities.argmax(1);
  const double agree = predicted.eq(data.labels).to(torch::kFloat64).mean().item<double>();
  return std::max(agree, 1.0 - agree);
}

// Expects the weights of two checkpoints to be bit-identical.
void expect_same_weights(const std::string& a, const std::string& b) {
  const auto wa = load_checkpoint(a).model;
  const auto wb = load_checkpoint(b).model;
  ASSERT_EQ(wa.size(), wb.size());
  for (size_t i = 0; i < wa.size(); ++i) {
    EXPECT_EQ(wa[i].first, wb[i].first);
    EXPECT_TRUE(wa[i].second.equal(wb[i].second)) << wa[i].first;
  }
}

// Expects two metrics files to hold the same rows in every column but the timings.
void expect_same_metrics(const std::string& a, const std::string& b) {
  const auto ra = read_metrics(a), rb = read_metrics(b);
  ASSERT_EQ(ra.size(), rb.size());
  for (size_t i = 0; i < ra.size(); ++i) {
    for (const auto& [key, value] : ra[i]) {
      if (key == "wall_seconds" || key == "images_per_second") continue;
      EXPECT_EQ(value, rb[i].at(key)) << "row " << i << ", column " << key;
    }
  }
}

TEST_F(TrainerTest, ATinyRunLowersTheLossAndWritesItsFiles) {
  TrainConfig c = tiny();
  c.epochs = 8;
  const TrainResult r = run_new(c, "run");
  EXPECT_EQ(r.status, TrainResult::Status::kFinished);
  EXPECT_EQ(r.step, 8 * 4);
  const auto rows = read_metrics(path("run/metrics.csv"));
  ASSERT_EQ(rows.size(), 8u);
  EXPECT_LT(std::stod(rows.back().at("loss")), std::stod(rows.front().at("loss")));
  EXPECT_TRUE(std::filesystem::exists(path("run/config.json")));
  EXPECT_TRUE(std::filesystem::exists(path("run/checkpoints/last.pt")));
  // No checkpoint chosen by ACC: the labels would pick the model.
  EXPECT_FALSE(std::filesystem::exists(path("run/checkpoints/best.pt")));
  // No epoch checkpoints unless asked for.
  EXPECT_FALSE(std::filesystem::exists(path("run/checkpoints/epoch_0001.pt")));
  std::ifstream final_in(path("run/final.json"));
  const auto final = nlohmann::json::parse(final_in);
  EXPECT_EQ(final["step"], 32);
  // The final report and the last row score the saved model: its ACC recomputed from its own
  // predictions (two clusters, two classes: the better of the two matchings).
  const double acc = two_cluster_acc(path("run"));
  EXPECT_NEAR(final["cluster_head"]["acc"].get<double>(), acc, 1e-12);
  EXPECT_EQ(rows.back().at("acc"), fixed(acc));
  // The two groups differ by where a bright square sits: chance is 0.5, and the features
  // separate them.
  EXPECT_GE(final["kmeans_on_features"]["acc"].get<double>(), 0.9);
  // The configuration file reads back to the same configuration.
  std::ifstream in(path("run/config.json"));
  EXPECT_EQ(TrainConfig::from_json(nlohmann::json::parse(in)).to_json(), c.to_json());
}

TEST_F(TrainerTest, ResumeAfterAnInterruptionMatchesAnUninterruptedRun) {
  ASSERT_EQ(run_new(tiny(), "a").status, TrainResult::Status::kFinished);
  Trainer first(tiny(), path("b"));
  first.set_step_limit(5);  // stops inside the second epoch
  const TrainResult stopped = first.run();
  EXPECT_EQ(stopped.status, TrainResult::Status::kInterrupted);
  EXPECT_EQ(stopped.step, 5);
  Trainer second(path("b"), ResumeOverrides());
  const TrainResult b = second.run();
  ASSERT_EQ(b.status, TrainResult::Status::kFinished);
  EXPECT_EQ(b.step, 8);
  expect_same_weights(path("a/checkpoints/last.pt"), path("b/checkpoints/last.pt"));
  expect_same_metrics(path("a/metrics.csv"), path("b/metrics.csv"));
}

TEST_F(TrainerTest, ResumeInThePresetsRealModeIsBitIdentical) {
  // bf16 autocast + channels-last, with the fused CBAM kernels on (they run on channels-last
  // float and bf16 CPU tensors).
  ASSERT_TRUE(cbam_fused());
  ASSERT_TRUE(cbam_fast_path(
      torch::zeros({2, 8, 6, 6}, torch::kBFloat16).contiguous(torch::MemoryFormat::ChannelsLast)));
  TrainConfig c = tiny_real_mode();
  c.epochs = 3;
  ASSERT_EQ(run_new(c, "a").status, TrainResult::Status::kFinished);
  // Interrupted three times: inside an epoch (its loss means span the interruption), right at
  // the start of one, and inside the next.
  {
    Trainer part(c, path("b"));
    part.set_step_limit(2);
    EXPECT_EQ(part.run().status, TrainResult::Status::kInterrupted);
  }
  for (int64_t limit : {4, 6}) {
    Trainer part(path("b"), ResumeOverrides());
    part.set_step_limit(limit);
    EXPECT_EQ(part.run().status, TrainResult::Status::kInterrupted);
  }
  EXPECT_EQ(Trainer(path("b"), ResumeOverrides()).run().step, 12);
  expect_same_weights(path("a/checkpoints/last.pt"), path("b/checkpoints/last.pt"));
  expect_same_metrics(path("a/metrics.csv"), path("b/metrics.csv"));
  const auto rows = read_metrics(path("b/metrics.csv"));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_NE(rows[0].at("loss"), rows[1].at("loss"));  // real values, not zeros
  EXPECT_GT(std::stod(rows[0].at("instance_loss")), 0.0);
}

TEST_F(TrainerTest, ResumeKeepsTheRunsOwnBudgetsAndAppliesOnlyTheOverrides) {
  TrainConfig c = tiny();
  c.epochs = 5;
  c.max_steps = 6;
  c.time_budget_minutes = 30;
  Trainer first(c, path("run"));
  first.set_step_limit(3);
  first.run();
  // Resumed with nothing given: the run's own epochs, step budget and time budget.
  Trainer same(path("run"), ResumeOverrides());
  EXPECT_EQ(same.config().epochs, 5);
  EXPECT_EQ(same.config().max_steps, 6);
  EXPECT_DOUBLE_EQ(same.config().time_budget_minutes, 30);
  const TrainResult r = same.run();
  EXPECT_EQ(r.status, TrainResult::Status::kBudgetReached);
  EXPECT_EQ(r.step, 6);
  // The budget is spent: resuming again says so instead of training or evaluating again.
  expect_error_containing(
      [&] { Trainer(path("run"), ResumeOverrides()); },
      {"has already reached its contrastive stage's step budget of 6 steps", "--max-steps"});
  ResumeOverrides more;
  more.max_steps = 10;
  more.keep_epoch_checkpoints = 1;
  Trainer longer(path("run"), more);
  EXPECT_EQ(longer.config().max_steps, 10);
  EXPECT_EQ(longer.config().lr, c.lr);
  EXPECT_EQ(longer.run().step, 10);
  EXPECT_TRUE(std::filesystem::exists(path("run/checkpoints/epoch_0002.pt")));
  std::ifstream in(path("run/config.json"));
  EXPECT_EQ(nlohmann::json::parse(in)["max_steps"], 10);  // the run's file says what it ran
}

// In a death test's child: resumes RUN for one more epoch with every file write limited to
// `limit` bytes (as a full disk limits them; EFBIG instead of ENOSPC) and exits 0 when the run
// stops with the error that says the checkpoint could not be written and the previous one is
// intact, 1 otherwise.
[[noreturn]] void resume_on_a_full_disk(const std::string& run, uint64_t limit) {
  ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit fsize = {limit, limit};
  ::setrlimit(RLIMIT_FSIZE, &fsize);
  try {
    ResumeOverrides more;
    more.epochs = 3;
    Trainer(run, more).run();
  } catch (const InputError& e) {
    const std::string what = e.what();
    if (what.find("last.pt") != std::string::npos &&
        what.find("the previous file is intact") != std::string::npos) {
      std::_Exit(0);
    }
    std::fprintf(stderr, "%s\n", e.what());
  }
  std::_Exit(1);
}

TEST_F(TrainerTest, AFullDiskStopsTrainingAndTheLastCheckpointResumes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TrainConfig c = tiny();
  c.epochs = 3;
  run_new(c, "planned");
  c.epochs = 2;
  run_new(c, "run");
  const uint64_t size = std::filesystem::file_size(path("run/checkpoints/last.pt"));
  EXPECT_EXIT(resume_on_a_full_disk(path("run"), size / 2), ::testing::ExitedWithCode(0), "");
  EXPECT_FALSE(std::filesystem::exists(path("run/checkpoints/last.pt.tmp")));
  EXPECT_EQ(load_checkpoint(path("run/checkpoints/last.pt")).epoch, 2);
  // With space again, the run resumes from it and ends as a run planned with 3 epochs.
  ResumeOverrides more;
  more.epochs = 3;
  EXPECT_EQ(Trainer(path("run"), more).run().status, TrainResult::Status::kFinished);
  expect_same_weights(path("run/checkpoints/last.pt"), path("planned/checkpoints/last.pt"));
  expect_same_metrics(path("run/metrics.csv"), path("planned/metrics.csv"));
}

TEST_F(TrainerTest, EpochCheckpointsAreKeptOnlyEveryNEpochs) {
  TrainConfig c = tiny();
  c.epochs = 4;
  c.keep_epoch_checkpoints = 2;
  run_new(c, "run");
  for (int epoch = 1; epoch <= 4; ++epoch) {
    char name[64];
    std::snprintf(name, sizeof(name), "run/checkpoints/epoch_%04d.pt", epoch);
    EXPECT_EQ(std::filesystem::exists(path(name)), epoch % 2 == 0) << name;
  }
  EXPECT_EQ(load_checkpoint(path("run/checkpoints/epoch_0004.pt")).epoch, 4);
  EXPECT_FALSE(std::filesystem::exists(path("run/checkpoints/last.pt.tmp")));
}

TEST_F(TrainerTest, RowsWrittenAfterTheResumedCheckpointAreDropped) {
  Trainer first(tiny(), path("run"));
  first.set_step_limit(5);
  first.run();
  // As if the process had died after writing a row but before its checkpoint.
  std::ofstream(path("run/metrics.csv"), std::ios::app) << "1.750,7,1.0,9,9,9,9,1,,,,0,0,0,0\n";
  Trainer(path("run"), ResumeOverrides()).run();
  const auto rows = read_metrics(path("run/metrics.csv"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].at("step"), "4");
  EXPECT_EQ(rows[1].at("step"), "8");
}

// The self-labelling stage after 2 contrastive epochs: 6 steps of it.
TrainConfig with_stage(TrainConfig c) {
  c.selflabel_steps = 6;
  c.selflabel_threshold = 0.5;  // the tiny network is not confident; K = 2
  c.selflabel_quota = 1.0;
  return c;
}

TEST_F(TrainerTest, TheSelfLabellingStageFollowsTheContrastiveOneAndIsLogged) {
  TrainConfig c = with_stage(tiny());
  c.selflabel_ce_weight = 2.0;
  c.selflabel_instance_weight = 0.5;
  c.selflabel_entropy_weight = 3.0;
  const TrainResult r = run_new(c, "run");
  EXPECT_EQ(r.status, TrainResult::Status::kBudgetReached);
  EXPECT_EQ(r.step, 8 + 6);
  const auto rows = read_metrics(path("run/metrics.csv"));
  // Epochs 1 and 2 (stage 1), epoch 3 (stage 2, step 12) and the end of the budget (step 14).
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[1].at("stage"), "1");
  EXPECT_EQ(rows[1].at("pseudo_labelled"), "");
  for (size_t i : {2, 3}) {
    EXPECT_EQ(rows[i].at("stage"), "2");
    EXPECT_GT(std::stod(rows[i].at("pseudo_labelled")), 0.0);
    EXPECT_LE(std::stod(rows[i].at("pseudo_labelled")), 1.0);
    EXPECT_FALSE(rows[i].at("pseudo_acc").empty());
    // The total weighs the instance loss, the cross-entropy and the regulariser by the stage's
    // weights (each column rounded to 5 decimals).
    const double total = 0.5 * std::stod(rows[i].at("instance_loss")) +
                         2.0 * std::stod(rows[i].at("cluster_loss")) +
                         3.0 * std::stod(rows[i].at("entropy_term"));
    EXPECT_NEAR(std::stod(rows[i].at("loss")), total, 4e-5);
    EXPECT_EQ(std::stod(rows[i].at("lr")), 1e-4);
  }
  EXPECT_EQ(rows[3].at("step"), "14");
  const Checkpoint last = load_checkpoint(path("run/checkpoints/last.pt"));
  EXPECT_EQ(last.stage, 2);
  EXPECT_EQ(last.stage_start_step, 8);
  std::ifstream final_in(path("run/final.json"));
  EXPECT_EQ(nlohmann::json::parse(final_in)["step"], 14);
  // Spent: resuming says which budget to raise.
  expect_error_containing([&] { Trainer(path("run"), ResumeOverrides()); },
                          {"selflabel stage's step budget of 6 steps", "--selflabel-steps"});
}

TEST_F(TrainerTest, ResumeAcrossAndInsideTheSelfLabellingStageIsBitIdentical) {
  run_new(with_stage(tiny()), "a");
  Trainer first(with_stage(tiny()), path("b"));
  first.set_step_limit(8);  // at the boundary between the stages
  EXPECT_EQ(first.run().status, TrainResult::Status::kInterrupted);
  EXPECT_EQ(load_checkpoint(path("b/checkpoints/last.pt")).stage, 2);
  Trainer second(path("b"), ResumeOverrides());
  second.set_step_limit(13);  // inside it, after its first row
  EXPECT_EQ(second.run().status, TrainResult::Status::kInterrupted);
  EXPECT_EQ(Trainer(path("b"), ResumeOverrides()).run().step, 14);
  expect_same_weights(path("a/checkpoints/last.pt"), path("b/checkpoints/last.pt"));
  expect_same_metrics(path("a/metrics.csv"), path("b/metrics.csv"));
  // A finished contrastive run given the stage on resume trains the same as one planned with it.
  ASSERT_EQ(run_new(tiny(), "c").status, TrainResult::Status::kFinished);
  expect_error_containing([&] { Trainer(path("c"), ResumeOverrides()); }, {"trained its 2 epochs"});
  // Its settings may be given with the budget, until the stage begins.
  const TrainConfig planned = with_stage(tiny());
  ResumeOverrides stage;
  stage.selflabel_steps = planned.selflabel_steps;
  stage.selflabel_threshold = planned.selflabel_threshold;
  stage.selflabel_quota = planned.selflabel_quota;
  run_new(planned, "d");
  EXPECT_EQ(Trainer(path("c"), stage).run().step, 14);
  expect_same_weights(path("c/checkpoints/last.pt"), path("d/checkpoints/last.pt"));
  // Once it has begun, they are fixed; the same value is no change.
  ResumeOverrides later;
  later.selflabel_steps = 10;
  later.selflabel_threshold = planned.selflabel_threshold;
  EXPECT_NO_THROW(Trainer(path("d"), later));
  later.selflabel_lr = 3e-4;
  expect_error_containing([&] { Trainer(path("d"), later); },
                          {"lr=0.0003", "began at step 8", "fixed"});
}

TrainConfig with_neighbours(TrainConfig c) {
  c.neighbour_space = "pixels";
  c.neighbour_k = 5;
  c.neighbour_heads = 2;
  c.neighbour_epochs = 3;
  return c;
}

TEST_F(TrainerTest, TheNeighbourStageEndsTheRunAndReplacesOnlyTheClusterHead) {
  ASSERT_EQ(run_new(tiny(), "plain").status, TrainResult::Status::kFinished);
  const TrainResult r = run_new(with_neighbours(tiny()), "run");
  EXPECT_EQ(r.status, TrainResult::Status::kFinished);
  EXPECT_EQ(r.step, 8);
  const auto rows = read_metrics(path("run/metrics.csv"));
  ASSERT_EQ(rows.size(), 3u);  // epochs 1 and 2, then the stage's row at the same step
  EXPECT_EQ(rows[1].at("stage"), "1");
  EXPECT_EQ(rows[2].at("stage"), "3");
  EXPECT_EQ(rows[2].at("step"), "8");
  // The chosen head's consistency less 5 times its entropy (tests/train/test_session.cpp
  // recomputes both from the saved model).
  EXPECT_NEAR(std::stod(rows[2].at("loss")),
              std::stod(rows[2].at("cluster_loss")) - 5 * std::stod(rows[2].at("entropy_term")),
              4e-5);
  EXPECT_FALSE(rows[2].at("acc").empty());
  const Checkpoint last = load_checkpoint(path("run/checkpoints/last.pt"));
  EXPECT_EQ(last.stage, 3);
  const auto plain = load_checkpoint(path("plain/checkpoints/last.pt")).model;
  ASSERT_EQ(plain.size(), last.model.size());
  int64_t head_tensors = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    const bool head = plain[i].first.rfind("cluster_head.", 0) == 0;
    head_tensors += head;
    EXPECT_EQ(plain[i].second.equal(last.model[i].second), !head) << plain[i].first;
  }
  EXPECT_EQ(head_tensors, 4);
  std::ifstream final_in(path("run/final.json"));
  const auto final_json = nlohmann::json::parse(final_in);
  EXPECT_EQ(final_json["step"], 8);
  const double acc = two_cluster_acc(path("run"));
  EXPECT_NEAR(final_json["cluster_head"]["acc"].get<double>(), acc, 1e-12);
  EXPECT_EQ(rows[2].at("acc"), fixed(acc));
  // The scores are those of the saved model, predicting through its new head.
  TrainedModel trained = load_trained_model(path("run"), "cpu");
  const EvalResult alone =
      evaluate(*trained.model, load_dataset_for(trained), 12, 64, false, false, false);
  EXPECT_TRUE(torch::equal(alone.predictions, r.last_eval.predictions));
  expect_error_containing(
      [&] { Trainer(path("run"), ResumeOverrides()); },
      {"has done every stage", "neighbours:space=pixels", "step 8", "append a stage"});
}

TEST_F(TrainerTest, TheNeighbourStageAfterABudgetAndOnResumeTrainsTheSame) {
  // A step budget inside epoch 2: the end of training is scored, then the stage.
  TrainConfig c = with_neighbours(tiny());
  c.max_steps = 6;
  const TrainResult r = run_new(c, "a");
  EXPECT_EQ(r.status, TrainResult::Status::kBudgetReached);
  auto rows = read_metrics(path("a/metrics.csv"));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].at("step"), "6");
  EXPECT_EQ(rows[1].at("stage"), "1");
  EXPECT_EQ(rows[2].at("step"), "6");
  EXPECT_EQ(rows[2].at("stage"), "3");
  // A finished run given the stage on resume (the checkpoint from before the stage, as a run
  // stopped during it leaves) trains the same head and writes the same rows.
  TrainConfig plain = tiny();
  plain.max_steps = 6;
  run_new(plain, "b");
  ResumeOverrides stage;
  stage.neighbour_space = "pixels";
  stage.neighbour_k = 5;
  stage.neighbour_heads = 2;
  stage.neighbour_epochs = 3;
  EXPECT_EQ(Trainer(path("b"), stage).run().status, TrainResult::Status::kBudgetReached);
  expect_same_weights(path("a/checkpoints/last.pt"), path("b/checkpoints/last.pt"));
  expect_same_metrics(path("a/metrics.csv"), path("b/metrics.csv"));
}

// --k-range: the head trains with the range's largest K until the neighbour stage estimates K;
// the network then has that K, a stage after it trains the new head (the optimiser follows),
// and the run resumes from a checkpoint of either K.
TEST_F(TrainerTest, AnEstimatedKReplacesTheHeadForTheStagesAfterIt) {
  TrainConfig c = with_neighbours(tiny());
  c.clusters = 5;
  c.k_range = "2-5";
  c.stages = "contrastive:steps=3,neighbours,contrastive:steps=2";
  ASSERT_EQ(run_new(c, "run").status, TrainResult::Status::kBudgetReached);
  const auto rows = read_metrics(path("run/k_estimate.csv"));
  ASSERT_EQ(rows.size(), 4u);  // K = 2..5
  int64_t chosen = 0;
  for (const auto& row : rows) {
    if (row.at("chosen") == "1") chosen = std::stoll(row.at("k"));
  }
  ASSERT_GE(chosen, 2);
  const Checkpoint last = load_checkpoint(path("run/checkpoints/last.pt"));
  EXPECT_EQ(last.step, 5);
  EXPECT_EQ(last.network.clusters(), chosen);
  const TrainedModel trained = load_trained_model(path("run"), "cpu");
  EXPECT_EQ(trained.clusters(), chosen);
  EXPECT_EQ(trained.model->cluster_head->named_parameters()["mlp.2.weight"].size(0), chosen);
  // The last stage trained the new head.
  c.stages = "contrastive:steps=3,neighbours";
  ASSERT_EQ(run_new(c, "two").status, TrainResult::Status::kBudgetReached);
  const Checkpoint two = load_checkpoint(path("two/checkpoints/last.pt"));
  for (size_t i = 0; i < two.model.size(); ++i) {
    if (two.model[i].first.rfind("cluster_head.", 0) == 0) {
      EXPECT_FALSE(two.model[i].second.equal(last.model[i].second)) << two.model[i].first;
    }
  }
  // A run whose checkpoint has the estimated K resumes with a stage appended.
  ResumeOverrides more;
  more.stages = "contrastive:steps=3,neighbours,contrastive:steps=1";
  EXPECT_EQ(Trainer(path("two"), more).run().status, TrainResult::Status::kBudgetReached);
  EXPECT_EQ(load_checkpoint(path("two/checkpoints/last.pt")).network.clusters(), chosen);
  // The stability of k-means by default; --k-criterion heads: the heads' agreement.
  EXPECT_EQ(rows[0].count("stability"), 1u);
  c.k_criterion = "heads";
  c.stages = "contrastive:steps=3,neighbours";
  ASSERT_EQ(run_new(c, "heads").status, TrainResult::Status::kBudgetReached);
  EXPECT_EQ(read_metrics(path("heads/k_estimate.csv"))[0].count("agreement"), 1u);
  // Without a neighbours stage there is no K to estimate.
  c.stages = "contrastive:steps=3";
  expect_error_containing([&] { Trainer(c, path("none")); },
                          {"--k-range 2-5", "neighbours stage", "contrastive"});
}

// --precision auto times both precisions on a new run and records the choice; a resumed run
// keeps it without measuring again.
TEST_F(TrainerTest, PrecisionAutoRecordsTheFasterAndResumeKeepsIt) {
  TrainConfig c = tiny_real_mode();
  c.bf16 = false;
  c.precision_auto = true;
  c.max_steps = 2;
  ASSERT_EQ(run_new(c, "run").status, TrainResult::Status::kBudgetReached);
  const TrainConfig saved = load_checkpoint(path("run/checkpoints/last.pt")).config;
  EXPECT_TRUE(saved.precision_auto);
  const std::string& m = saved.precision_measured;
  ASSERT_NE(m.find("fp32 "), std::string::npos) << m;
  const double fp32 = std::stod(m.substr(m.find("fp32 ") + 5));
  const double bf16 = std::stod(m.substr(m.find("bf16 ") + 5));
  EXPECT_GT(fp32, 0);
  EXPECT_GT(bf16, 0);
  EXPECT_EQ(saved.bf16, bf16 > fp32) << m;
  EXPECT_NE(m.find(saved.bf16 ? ": bf16" : ": fp32"), std::string::npos) << m;
  std::ifstream config_in(path("run/config.json"));
  EXPECT_EQ(nlohmann::json::parse(config_in)["precision_measured"], m);
  ResumeOverrides more;
  more.max_steps = 3;
  Trainer resumed(path("run"), more);
  EXPECT_EQ(resumed.run().status, TrainResult::Status::kBudgetReached);
  const TrainConfig after = load_checkpoint(path("run/checkpoints/last.pt")).config;
  EXPECT_EQ(after.precision_measured, m);
  EXPECT_EQ(after.bf16, saved.bf16);
}

TEST_F(TrainerTest, AStepBudgetEndsTheRunWithAFinalEvaluation) {
  TrainConfig c = tiny();
  c.max_steps = 3;  // inside the second epoch
  Trainer t(c, path("steps"));
  const TrainResult r = t.run();
  EXPECT_EQ(r.status, TrainResult::Status::kBudgetReached);
  EXPECT_EQ(r.step, 3);
  const auto rows = read_metrics(path("steps/metrics.csv"));
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.back().at("step"), "3");
  EXPECT_TRUE(std::filesystem::is_regular_file(path("steps/final.json")));
}

// The run's clock starts when the command builds its trainer: what comes before the training
// session (--precision auto's timing, the data's loading, here a pause) is inside the budget.
TEST_F(TrainerTest, TheRunsClockCountsFromTheTrainersCreation) {
  TrainConfig c = tiny();
  c.max_steps = 2;
  const auto before = std::chrono::steady_clock::now();
  Trainer t(c, path("clock"));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  const TrainResult r = t.run();
  const double whole =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count();
  EXPECT_GE(r.train_seconds, 2.5);
  EXPECT_LE(r.train_seconds, whole);  // nothing before the trainer's creation
  EXPECT_GE(load_checkpoint(path("clock/checkpoints/last.pt")).train_seconds, 2.5);
}

TEST_F(TrainerTest, ABudgetEndingWithAnEpochIsEvaluatedOnceAndFollowsTheCosineSchedule) {
  TrainConfig c = tiny();
  c.max_steps = 4;  // 128 images / 32 per step: exactly the end of the first epoch
  c.lr_schedule = "cosine";
  Trainer t(c, path("cos"));
  const TrainResult r = t.run();
  EXPECT_EQ(r.status, TrainResult::Status::kBudgetReached);
  const auto rows = read_metrics(path("cos/metrics.csv"));
  ASSERT_EQ(rows.size(), 1u);  // the epoch's evaluation is also the final one
  EXPECT_EQ(rows[0].at("step"), "4");
  EXPECT_TRUE(std::filesystem::is_regular_file(path("cos/final.json")));
  // The last step (the 4th, taken at step count 3) ran at lr (1 + cos(3 pi / 4)) / 2.
  const double pi = std::acos(-1.0);
  EXPECT_NEAR(std::stod(rows[0].at("lr")), 1e-3 * 0.5 * (1 + std::cos(pi * 3 / 4)), 1e-9);
}

TEST_F(TrainerTest, DamagedCheckpointsAndReusedFoldersAreRefused) {
  Trainer t(tiny(), path("run"));
  t.set_step_limit(2);
  t.run();
  expect_error_containing([&] { Trainer(tiny(), path("run")); },
                          {"already holds a run", "--resume"});
  test::write_text(path("run/checkpoints/last.pt"), "garbage, not a checkpoint");
  expect_error_containing([&] { Trainer(path("run"), ResumeOverrides()).run(); },
                          {"checkpoint", "last.pt", "damaged"});
  expect_error_containing([&] { Trainer(path("nothing"), ResumeOverrides()); },
                          {"cannot resume", "last.pt not found"});
}

TEST_F(TrainerTest, ANonFiniteLossStopsTrainingWithAClearError) {
  TrainConfig c = tiny();
  c.lr = 1e30;  // the first update sends the weights to infinity
  c.epochs = 3;
  Trainer t(c, path("run"));
  expect_error_containing([&] { t.run(); },
                          {"the loss became", "training stopped", "last good checkpoint"});
}

TEST_F(TrainerTest, ConfigurationChecks) {
  TrainConfig c = tiny();
  c.batch_size = 1000;
  expect_error_containing([&] { Trainer(c, path("r1")).run(); },
                          {"--batch-size 1000 is larger than the 128 images"});
  c = tiny();
  c.cluster_reading = "diagonal";
  expect_error_containing([&] { Trainer(c, path("r2")); }, {"--cluster-reading"});
  expect_error_containing(
      [] {
        TrainConfig::from_json({{"learning_rate", 1}});
      },
      {"unknown configuration key 'learning_rate'"});
  for (const auto& name : preset_names()) EXPECT_NO_THROW(preset(name).validate()) << name;
  expect_error_containing([] { preset("fast"); }, {"unknown preset 'fast'", "fmnist-cpu"});
}

}  // namespace
}  // namespace dcacn
