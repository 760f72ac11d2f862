#include "dcacn/train/trainer.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "../test_util.h"
#include "dcacn/model/state_dict.h"
#include "dcacn/train/checkpoint.h"

namespace dcacn {
namespace {

using test::idx_header;

using test::expect_error_containing;

// Reads metrics.csv into rows of named fields.
std::vector<std::map<std::string, std::string>> read_metrics(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  std::stringstream hs(line);
  for (std::string f; std::getline(hs, f, ',');) header.push_back(f);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    std::stringstream ls(line);
    std::map<std::string, std::string> row;
    size_t i = 0;
    for (std::string f; std::getline(ls, f, ',') && i < header.size(); ++i) row[header[i]] = f;
    rows.push_back(row);
  }
  return rows;
}

class TrainerTest : public test::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    // 128 training images of 12x12 in two groups (a bright square top-left or bottom-right),
    // with noise; no test split is needed for --split train.
    const int64_t n = 128;
    torch::Tensor labels = torch::arange(n) % 2;
    torch::Tensor images = torch::randint(0, 40, {n, 12, 12});
    for (int64_t i = 0; i < n; ++i) {
      const int64_t o = labels[i].item<int64_t>() == 0 ? 1 : 6;
      images[i].slice(0, o, o + 5).slice(1, o, o + 5).add_(180);
    }
    auto img = idx_header(3, {static_cast<uint32_t>(n), 12, 12});
    auto pix = test::tensor_bytes(images);
    img.insert(img.end(), pix.begin(), pix.end());
    test::write_bytes(path("data/train-images-idx3-ubyte"), img);
    auto lab = idx_header(1, {static_cast<uint32_t>(n)});
    auto lb = test::tensor_bytes(labels);
    lab.insert(lab.end(), lb.begin(), lb.end());
    test::write_bytes(path("data/train-labels-idx1-ubyte"), lab);
  }

  TrainConfig tiny() const {
    TrainConfig c;
    c.dataset = "mnist";
    c.data_path = path("data");
    c.split = "train";
    c.depth = 18;
    c.width = 4;
    c.clusters = 2;
    c.batch_size = 32;
    c.views = "2x12@0.5-1,2x6@0.2-0.5";
    c.epochs = 2;
    c.lr = 1e-3;
    c.eval_batch_size = 64;
    c.keep_epoch_checkpoints = 0;
    return c;
  }
};

TEST_F(TrainerTest, ATinyRunLowersTheLossAndWritesItsFiles) {
  TrainConfig c = tiny();
  c.epochs = 8;
  Trainer trainer(c, path("run"), false);
  const TrainResult r = trainer.run();
  EXPECT_EQ(r.status, TrainResult::Status::kFinished);
  EXPECT_EQ(r.step, 8 * 4);
  const auto rows = read_metrics(path("run/metrics.csv"));
  ASSERT_EQ(rows.size(), 8u);
  EXPECT_LT(std::stod(rows.back().at("loss")), std::stod(rows.front().at("loss")));
  EXPECT_FALSE(rows.back().at("acc").empty());
  EXPECT_TRUE(std::filesystem::exists(path("run/config.json")));
  EXPECT_TRUE(std::filesystem::exists(path("run/checkpoints/last.pt")));
  EXPECT_TRUE(std::filesystem::exists(path("run/checkpoints/best.pt")));
  std::ifstream final_in(path("run/final.json"));
  const auto final = nlohmann::json::parse(final_in);
  EXPECT_EQ(final["step"], 32);
  EXPECT_TRUE(final.contains("cluster_head"));
  EXPECT_GE(final["kmeans_on_features"]["acc"].get<double>(), 0.5);  // 2 balanced classes
  // The configuration file reads back to the same configuration.
  std::ifstream in(path("run/config.json"));
  EXPECT_EQ(TrainConfig::from_json(nlohmann::json::parse(in)).to_json(), c.to_json());
}

TEST_F(TrainerTest, ResumeAfterAnInterruptionMatchesAnUninterruptedRun) {
  Trainer straight(tiny(), path("a"), false);
  const TrainResult a = straight.run();
  ASSERT_EQ(a.status, TrainResult::Status::kFinished);

  Trainer first(tiny(), path("b"), false);
  first.set_step_limit(5);  // stops inside the second epoch
  const TrainResult stopped = first.run();
  EXPECT_EQ(stopped.status, TrainResult::Status::kInterrupted);
  EXPECT_EQ(stopped.step, 5);
  Trainer second(tiny(), path("b"), true);
  const TrainResult b = second.run();
  ASSERT_EQ(b.status, TrainResult::Status::kFinished);
  EXPECT_EQ(b.step, a.step);

  const auto wa = load_checkpoint(path("a/checkpoints/last.pt")).model;
  const auto wb = load_checkpoint(path("b/checkpoints/last.pt")).model;
  ASSERT_EQ(wa.size(), wb.size());
  for (size_t i = 0; i < wa.size(); ++i) {
    EXPECT_EQ(wa[i].first, wb[i].first);
    EXPECT_TRUE(wa[i].second.equal(wb[i].second)) << wa[i].first;
  }
  const auto ra = read_metrics(path("a/metrics.csv")), rb = read_metrics(path("b/metrics.csv"));
  ASSERT_EQ(ra.size(), rb.size());
  for (const char* key : {"epoch", "step", "acc", "nmi", "ari", "empty_clusters"}) {
    EXPECT_EQ(ra.back().at(key), rb.back().at(key)) << key;
  }
}

TEST_F(TrainerTest, AStepBudgetEndsTheRunWithAFinalEvaluation) {
  TrainConfig c = tiny();
  c.max_steps = 3;  // inside the second epoch
  Trainer t(c, path("steps"), false);
  const TrainResult r = t.run();
  EXPECT_EQ(r.status, TrainResult::Status::kBudgetReached);
  EXPECT_EQ(r.step, 3);
  const auto rows = read_metrics(path("steps/metrics.csv"));
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.back().at("step"), "3");
  EXPECT_TRUE(std::filesystem::is_regular_file(path("steps/final.json")));
}

TEST_F(TrainerTest, ABudgetEndingWithAnEpochIsEvaluatedOnceAndFollowsTheCosineSchedule) {
  TrainConfig c = tiny();
  c.max_steps = 4;  // 128 images / 32 per step: exactly the end of the first epoch
  c.lr_schedule = "cosine";
  Trainer t(c, path("cos"), false);
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
  Trainer t(tiny(), path("run"), false);
  t.set_step_limit(2);
  t.run();
  expect_error_containing([&] { Trainer(tiny(), path("run"), false); },
                          {"already holds a run", "--resume"});
  test::write_text(path("run/checkpoints/last.pt"), "garbage, not a checkpoint");
  expect_error_containing([&] { Trainer(tiny(), path("run"), true).run(); },
                          {"checkpoint", "last.pt", "damaged"});
  expect_error_containing([&] { Trainer(tiny(), path("nothing"), true); },
                          {"cannot resume", "last.pt not found"});
}

TEST_F(TrainerTest, ANonFiniteLossStopsTrainingWithAClearError) {
  TrainConfig c = tiny();
  c.lr = 1e30;  // the first update sends the weights to infinity
  c.epochs = 3;
  Trainer t(c, path("run"), false);
  expect_error_containing([&] { t.run(); },
                          {"the loss became", "training stopped", "last good checkpoint"});
}

TEST_F(TrainerTest, ConfigurationChecks) {
  TrainConfig c = tiny();
  c.batch_size = 1000;
  expect_error_containing([&] { Trainer(c, path("r1"), false).run(); },
                          {"--batch-size 1000 is larger than the 128 images"});
  c = tiny();
  c.cluster_reading = "diagonal";
  expect_error_containing([&] { Trainer(c, path("r2"), false); }, {"--cluster-reading"});
  expect_error_containing([] { TrainConfig::from_json({{"learning_rate", 1}}); },
                          {"unknown configuration key 'learning_rate'"});
  for (const auto& name : preset_names()) EXPECT_NO_THROW(preset(name).validate()) << name;
  expect_error_containing([] { preset("fast"); }, {"unknown preset 'fast'", "fmnist-cpu"});
}

}  // namespace
}  // namespace dcacn
