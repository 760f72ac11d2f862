// End-to-end checks of the dcacn executable: exit codes, messages and outputs.

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../test_util.h"
#include "cli_util.h"
#include "dcacn/run/setup.h"

namespace dcacn {
namespace {

using test::idx_header;

using test::CliRun;
using test::run_cli;

class CliTest : public test::TempDirTest {
 protected:
  // An MNIST-style folder with two obvious groups: dark images (label 3) and bright ones
  // (label 8), 20 of each, split into train (30) and test (10).
  void write_two_group_idx() {
    torch::Tensor labels = torch::tensor({3, 8}).repeat(20);
    torch::Tensor base = torch::where(labels == 3, torch::full({40}, 20), torch::full({40}, 220));
    torch::Tensor images =
        (base.view({40, 1, 1}) + torch::randint(-15, 16, {40, 6, 6})).to(torch::kUInt8);
    auto write_part = [&](const std::string& prefix, int64_t from, int64_t to) {
      auto img = idx_header(3, {static_cast<uint32_t>(to - from), 6, 6});
      auto pix = test::tensor_bytes(images.slice(0, from, to));
      img.insert(img.end(), pix.begin(), pix.end());
      test::write_gzip(path(prefix + "-images-idx3-ubyte.gz"), img);
      auto lab = idx_header(1, {static_cast<uint32_t>(to - from)});
      auto lb = test::tensor_bytes(labels.slice(0, from, to));
      lab.insert(lab.end(), lb.begin(), lb.end());
      test::write_gzip(path(prefix + "-labels-idx1-ubyte.gz"), lab);
    };
    write_part("train", 0, 30);
    write_part("t10k", 30, 40);
  }
};

TEST_F(CliTest, HelpForEveryCommand) {
  CliRun top = run_cli("--help");
  EXPECT_EQ(top.status, 0);
  // Every subcommand, with an option only its own help shows.
  const std::vector<std::pair<std::string, std::string>> commands = {
      {"kmeans", "--n-init"},        {"score", "--predictions"}, {"model-info", "--arch"},
      {"augment-preview", "--cell"}, {"train", "--resume"},      {"evaluate", "--which"},
      {"predict", "--group-into"},   {"embed", "--format"},      {"report", "--tsne-samples"}};
  for (const auto& [command, option] : commands) {
    EXPECT_NE(top.output.find(command), std::string::npos) << command;
    const CliRun help = run_cli(command + " --help");
    EXPECT_EQ(help.status, 0) << command;
    EXPECT_NE(help.output.find(option), std::string::npos) << command << ": " << help.output;
  }
  EXPECT_NE(run_cli("no-such-command").status, 0);
}

TEST_F(CliTest, KMeansWritesPredictionsThatScoreAgrees) {
  write_two_group_idx();
  CliRun km = run_cli("kmeans --dataset mnist --data " + dir_ +
                      " --k 2 --n-init 3 --seed 7 --json --quiet --out " + path("p.csv"));
  ASSERT_EQ(km.status, 0) << km.output;
  const auto result = nlohmann::json::parse(km.output);
  EXPECT_EQ(result["samples"], 40);
  EXPECT_DOUBLE_EQ(result["acc"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(result["ari"].get<double>(), 1.0);

  std::ifstream in(path("p.csv"));
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, "index,label,cluster");
  int rows = 0;
  for (std::string line; std::getline(in, line);) ++rows;
  EXPECT_EQ(rows, 40);

  CliRun score = run_cli("score --json --predictions " + path("p.csv"));
  ASSERT_EQ(score.status, 0) << score.output;
  const auto s = nlohmann::json::parse(score.output);
  EXPECT_DOUBLE_EQ(s["nmi"].get<double>(), 1.0);
  EXPECT_EQ(s["clusters"], 2);
}

TEST_F(CliTest, ScoreMatchesScikitLearnReferenceCase) {
  std::ifstream in(std::string(DCACN_TEST_DATA_DIR) + "/metrics_sklearn.json");
  const auto ref = nlohmann::json::parse(in);
  for (const auto& c : ref["cases"]) {
    if (c["name"] != "noisy_copy_0.5" && c["name"] != "offset_labels") continue;
    std::string csv = "index,cluster,label\n";
    const auto& y = c["labels_true"];
    const auto& p = c["labels_pred"];
    for (size_t i = 0; i < y.size(); ++i) {
      csv += std::to_string(i) + "," + std::to_string(p[i].get<int64_t>()) + "," +
             std::to_string(y[i].get<int64_t>()) + "\n";
    }
    test::write_text(path("ref.csv"), csv);
    CliRun score = run_cli("score --json --predictions " + path("ref.csv"));
    ASSERT_EQ(score.status, 0) << score.output;
    const auto s = nlohmann::json::parse(score.output);
    EXPECT_NEAR(s["acc"].get<double>(), c["acc"].get<double>(), 1e-9);
    EXPECT_NEAR(s["nmi"].get<double>(), c["nmi"].get<double>(), 1e-9);
    EXPECT_NEAR(s["ari"].get<double>(), c["ari"].get<double>(), 1e-9);
  }
}

TEST_F(CliTest, AugmentPreviewShowsTheViewsOfARunOrAPreset) {
  write_two_group_idx();
  TrainConfig c;
  c.dataset = "mnist";
  c.data_path = dir_;
  c.views = "2x6@0.5-1:rotate=10:erase=0.5,3x4@0.2-0.5";
  std::filesystem::create_directories(path("run"));
  test::write_text(path("run/config.json"), c.to_json().dump());
  const CliRun run =
      run_cli("augment-preview --run " + path("run") + " --n 4 --cell 8 --out " + path("grid.png"));
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("2x6 (scale 0.50-1.00) + 3x4 (scale 0.20-0.50)"), std::string::npos)
      << run.output;
  EXPECT_TRUE(std::filesystem::is_regular_file(path("grid.png")));
  // A preset names its dataset too; --dataset given wins (here the test's folder).
  const CliRun shown = run_cli("augment-preview --preset fmnist-cpu --dataset mnist --data " +
                               dir_ + " --n 2 --cell 8 --out " + path("p.png"));
  ASSERT_EQ(shown.status, 0) << shown.output;
  EXPECT_NE(shown.output.find(view_spec(preset("fmnist-cpu")).describe()), std::string::npos)
      << shown.output;
  const CliRun both = run_cli("augment-preview --run " + path("run") +
                              " --preset fmnist-cpu --out " + path("b.png"));
  EXPECT_EQ(both.status, 1);
  EXPECT_NE(both.output.find("not both"), std::string::npos) << both.output;
  const CliRun none =
      run_cli("augment-preview --run " + path("absent") + " --out " + path("b.png"));
  EXPECT_EQ(none.status, 1);
  EXPECT_NE(none.output.find(path("absent") + "/config.json not found"), std::string::npos)
      << none.output;
}

TEST_F(CliTest, UserErrorsAreOneLineWithExitStatusOne) {
  CliRun missing = run_cli("score --predictions " + path("absent.csv"));
  EXPECT_EQ(missing.status, 1);
  EXPECT_EQ(missing.output, "error: file not found: " + path("absent.csv") + "\n");

  test::write_text(path("nolabel.csv"), "index,cluster\n0,1\n");
  CliRun nolabel = run_cli("score --predictions " + path("nolabel.csv"));
  EXPECT_EQ(nolabel.status, 1);
  EXPECT_NE(nolabel.output.find("no 'label' column"), std::string::npos);

  CliRun cifar = run_cli("kmeans --dataset cifar10 --data " + path("nothing"));
  EXPECT_EQ(cifar.status, 1);
  EXPECT_NE(cifar.output.find("data folder not found"), std::string::npos);

  write_two_group_idx();
  CliRun bad_k = run_cli("kmeans --dataset mnist --data " + dir_ + " --k 41 --quiet");
  EXPECT_EQ(bad_k.status, 1);
  EXPECT_NE(bad_k.output.find("larger than the number of samples (40)"), std::string::npos);
  CliRun bad_split = run_cli("kmeans --dataset mnist --data " + dir_ + " --split val");
  EXPECT_EQ(bad_split.status, 1);
  EXPECT_NE(bad_split.output.find("unknown split 'val'"), std::string::npos);
}

}  // namespace
}  // namespace dcacn
