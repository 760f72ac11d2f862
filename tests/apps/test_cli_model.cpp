// End-to-end checks of the commands that use a trained model: evaluate, predict, embed and
// report, on a run trained once for the whole suite.

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../test_util.h"
#include "cli_util.h"
#include "dcacn/curate/curation.h"
#include "dcacn/infer/inference.h"
#include "dcacn/io/embeddings.h"
#include "dcacn/io/image_grid.h"
#include "dcacn/io/predictions.h"

namespace dcacn {
namespace {

using test::idx_header;

using test::CliRun;
using test::read_text;
using test::run_cli;

namespace fs = std::filesystem;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream s(text);
  for (std::string line; std::getline(s, line);) out.push_back(line);
  return out;
}

std::vector<std::string> fields_of(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream s(line);
  for (std::string f; std::getline(s, f, ',');) out.push_back(f);
  return out;
}

std::string tiny_train_args(const std::string& data) {
  return "train --dataset mnist --data " + data +
         " --split train --arch resnet18 --width 4 "
         "--clusters 2 --batch-size 32 --views 2x12@0.5-1,2x6@0.2-0.5 --epochs 2 --lr 1e-3 "
         "--eval-batch-size 40 --device cpu --quiet";
}

class CliModelTest : public ::testing::Test {
 protected:
  static std::string root_;
  static torch::Tensor images_;

  static std::string at(const std::string& name) { return root_ + "/" + name; }

  // 96 MNIST-format 12x12 images in two groups (a bright square top-left or bottom-right),
  // and a two-cluster model trained on them for two epochs.
  static void SetUpTestSuite() {
    torch::manual_seed(99);
    root_ = (fs::temp_directory_path() / ("dcacn_test_cli_model_" + std::to_string(::getpid())))
                .string();
    fs::remove_all(root_);
    fs::create_directories(root_ + "/data");
    images_ = test::write_two_square_idx(at("data"), 96);
    const CliRun r = run_cli(tiny_train_args(at("data")) + " --out " + at("run"));
    ASSERT_EQ(r.status, 0) << r.output;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
};
std::string CliModelTest::root_;
torch::Tensor CliModelTest::images_;

TEST_F(CliModelTest, OverwriteReplacesARunButNothingElse) {
  const std::string args = tiny_train_args(at("data")) + " --max-steps 1 --out ";
  ASSERT_EQ(run_cli(args + at("again")).status, 0);
  const CliRun twice = run_cli(args + at("again"));
  EXPECT_EQ(twice.status, 1);
  EXPECT_NE(twice.output.find("already holds a run"), std::string::npos) << twice.output;
  const CliRun replaced = run_cli(args + at("again") + " --overwrite");
  EXPECT_EQ(replaced.status, 0) << replaced.output;
  fs::create_directories(at("precious"));
  test::write_text(at("precious/notes.txt"), "keep me");
  const CliRun refused = run_cli(args + at("precious") + " --overwrite");
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.output.find("does not hold a dcacn run"), std::string::npos) << refused.output;
  EXPECT_TRUE(fs::exists(at("precious/notes.txt")));
}

TEST_F(CliModelTest, EvaluateReproducesTheRunsOwnFinalScores) {
  const CliRun r = run_cli("evaluate --checkpoint " + at("run") + " --json --quiet");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  const auto final = nlohmann::json::parse(read_text(at("run/final.json")));
  EXPECT_DOUBLE_EQ(j["acc"].get<double>(), final["cluster_head"]["acc"].get<double>());
  EXPECT_DOUBLE_EQ(j["nmi"].get<double>(), final["cluster_head"]["nmi"].get<double>());
  EXPECT_DOUBLE_EQ(j["ari"].get<double>(), final["cluster_head"]["ari"].get<double>());
  // ... and the last row of metrics.csv, written with 4 decimals.
  const auto rows = lines_of(read_text(at("run/metrics.csv")));
  const auto header = fields_of(rows.front()), last = fields_of(rows.back());
  for (const char* key : {"acc", "nmi", "ari"}) {
    const size_t col = std::find(header.begin(), header.end(), key) - header.begin();
    ASSERT_LT(col, header.size());
    EXPECT_NEAR(j[key].get<double>(), std::stod(last[col]), 5.01e-5) << key;
  }
  int64_t total = 0;
  for (const auto& row : j["confusion"]["counts"])
    for (const auto& v : row) total += v.get<int64_t>();
  EXPECT_EQ(total, 96);
  EXPECT_EQ(j["per_cluster"].size(), 2u);
  EXPECT_TRUE(j.contains("majority_vote_acc"));
  const CliRun text = run_cli("evaluate --checkpoint " + at("run") + " --quiet");
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("confusion matrix"), std::string::npos) << text.output;
  // No checkpoint is chosen by the labels.
  const CliRun best = run_cli("evaluate --checkpoint " + at("run") + " --which best --quiet");
  EXPECT_EQ(best.status, 1);
  EXPECT_NE(best.output.find("best.pt"), std::string::npos) << best.output;
  const CliRun missing = run_cli("evaluate --checkpoint " + at("nowhere") + " --quiet");
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("nowhere"), std::string::npos) << missing.output;
}

TEST_F(CliModelTest, PredictReportsACorruptImageAndWritesTheRest) {
  const std::string dir = at("predict_in");
  for (int64_t i = 0; i < 6; ++i) {
    const std::string sub = i < 3 ? "/a/" : "/b/nested/";
    fs::create_directories(dir + sub);
    // Same file names in two folders, to exercise --group-into's renaming.
    write_png(dir + sub + "img" + std::to_string(i % 3) + ".png", images_[i].unsqueeze(0));
  }
  test::write_text(dir + "/a/broken.png", "this is not a PNG file");
  const CliRun r = run_cli("predict --checkpoint " + at("run") + " --images " + dir + " --out " +
                           at("pred.csv") + " --group-into " + at("groups") + " --quiet");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("broken.png"), std::string::npos) << r.output;
  const auto rows = lines_of(read_text(at("pred.csv")));
  ASSERT_EQ(rows.size(), 7u);
  EXPECT_EQ(rows[0], "index,path,cluster,confidence,top1,top1_probability,top2,top2_probability");
  // The files hold the dataset's first 6 images, in listing order: the model must see them as
  // it sees the dataset's own rows, which `embed` gives.
  ASSERT_EQ(
      run_cli("embed --checkpoint " + at("run") + " --out " + at("predict_ref.pt") + " --quiet")
          .status,
      0);
  const torch::Tensor reference = read_embeddings_pt(at("predict_ref.pt")).probabilities;
  int64_t linked = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto f = fields_of(rows[i]);
    ASSERT_EQ(f.size(), 8u) << rows[i];
    EXPECT_EQ(f[0], std::to_string(i - 1));
    EXPECT_EQ(f[2], f[4]);  // the cluster is the top-1
    const int64_t cluster = std::stoll(f[2]);
    const double confidence = std::stod(f[3]), second = std::stod(f[7]);
    EXPECT_EQ(cluster, reference[i - 1].argmax().item<int64_t>()) << rows[i];
    EXPECT_NEAR(confidence, reference[i - 1][cluster].item<double>(), 1e-5) << rows[i];
    EXPECT_NEAR(confidence + second, 1.0, 2e-6);
    EXPECT_EQ(rows[i].find("broken"), std::string::npos);
  }
  for (const auto& entry : fs::recursive_directory_iterator(at("groups"))) {
    if (entry.is_symlink()) {
      ++linked;
      EXPECT_TRUE(fs::exists(fs::read_symlink(entry.path()))) << entry.path();
    }
  }
  EXPECT_EQ(linked, 6);
  EXPECT_FALSE(fs::exists(at("groups.partial")));
  // An existing, non-empty --group-into is refused before anything is written.
  const CliRun again =
      run_cli("predict --checkpoint " + at("run") + " --images " + dir + " --out " +
              at("pred2.csv") + " --group-into " + at("groups") + " --quiet");
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.output.find("not empty"), std::string::npos) << again.output;
  EXPECT_FALSE(fs::exists(at("pred2.csv")));
  // --copy copies.
  ASSERT_EQ(run_cli("predict --checkpoint " + at("run") + " --images " + dir + "/a --group-into " +
                    at("copies") + " --copy --quiet")
                .status,
            0);
  int64_t copied = 0;
  for (const auto& entry : fs::recursive_directory_iterator(at("copies")))
    copied += entry.is_regular_file();
  EXPECT_EQ(copied, 3);
}

TEST_F(CliModelTest, EmbedWritesADictOfTensorsAndCsv) {
  const CliRun r =
      run_cli("embed --checkpoint " + at("run") + " --out " + at("emb.pt") + " --quiet");
  ASSERT_EQ(r.status, 0) << r.output;
  const Embeddings e = read_embeddings_pt(at("emb.pt"));
  ASSERT_EQ(e.probabilities.sizes(), (std::vector<int64_t>{96, 2}));
  EXPECT_EQ(e.features.size(0), 96);
  EXPECT_EQ(e.embeddings.size(0), 96);
  // The outputs are the network's, run here directly on the same images (fp32, one batch).
  DCACN model = load_trained_model(at("run"), "cpu").model;
  model->eval();
  torch::NoGradGuard no_grad;
  const DCACNOutput direct = model->forward(images_.unsqueeze(1).to(torch::kFloat) / 255);
  EXPECT_TRUE(torch::allclose(e.probabilities, direct.probabilities, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(e.embeddings, direct.embedding, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(e.features, direct.features, 1e-4, 1e-5));
  EXPECT_TRUE(e.clusters.equal(e.probabilities.argmax(1)));
  EXPECT_TRUE(e.labels.equal(torch::arange(96) % 2));
  const CliRun csv =
      run_cli("embed --checkpoint " + at("run") + " --out " + at("emb.csv") + " --quiet");
  ASSERT_EQ(csv.status, 0) << csv.output;
  const auto rows = lines_of(read_text(at("emb.csv")));
  ASSERT_EQ(rows.size(), 97u);
  const auto header = fields_of(rows[0]);
  EXPECT_EQ(header.size(), 3 + 2 + e.embeddings.size(1) + e.features.size(1));
  EXPECT_EQ(fields_of(rows[5]).size(), header.size());
}

TEST_F(CliModelTest, ACurationReachesExportEmbedAndPredict) {
  const CliRun none = run_cli("export " + at("run") + " --csv " + at("none.csv"));
  EXPECT_EQ(none.status, 1);
  EXPECT_NE(none.output.find("curation.json not found"), std::string::npos) << none.output;
  EXPECT_FALSE(fs::exists(at("none.csv")));
  const CliRun file = run_cli("serve " + at("run") + "/config.json");
  EXPECT_EQ(file.status, 1);
  EXPECT_NE(file.output.find("serve takes a run folder"), std::string::npos) << file.output;

  // The model's clusters, then a curation of them: cluster 0 renamed, images 0 and 1 moved to 1.
  ASSERT_EQ(
      run_cli("embed --checkpoint " + at("run") + " --out " + at("base.pt") + " --quiet").status,
      0);
  const Embeddings base = read_embeddings_pt(at("base.pt"));
  const torch::Tensor model_clusters = base.clusters.contiguous();
  std::vector<int64_t> expected(model_clusters.data_ptr<int64_t>(),
                                model_clusters.data_ptr<int64_t>() + 96);
  Curation c(expected, 2);
  c.rename(0, "left, \"square\"");
  c.move({0, 1}, 1);
  c.save(at("run") + "/curation.json");
  expected[0] = expected[1] = 1;

  ASSERT_EQ(run_cli("export " + at("run") + " --csv " + at("curated.csv") + " --folders " +
                    at("curated") + " --quiet")
                .status,
            0);
  const Predictions exported = read_predictions_csv(at("curated.csv"));
  EXPECT_EQ(exported.cluster, expected);
  EXPECT_EQ(exported.label.size(), 96u);
  const auto rows = lines_of(read_text(at("curated.csv")));
  EXPECT_EQ(rows[0], "index,label,cluster,name");
  EXPECT_EQ(rows[1], "0,0,1,cluster 1");
  // The dataset has no image files: the folders hold PNGs, one per image, named by cluster.
  const int64_t in_zero = std::count(expected.begin(), expected.end(), 0);
  int64_t pngs_zero = 0, pngs_one = 0;
  for (const auto& entry : fs::directory_iterator(at("curated/0_left_ _square_"))) {
    pngs_zero += entry.path().extension() == ".png";
  }
  for (const auto& entry : fs::directory_iterator(at("curated/1_cluster 1"))) {
    pngs_one += entry.path().extension() == ".png";
  }
  EXPECT_EQ(pngs_zero, in_zero);
  EXPECT_EQ(pngs_one, 96 - in_zero);
  // A name with a comma and quotes is quoted as RFC 4180 says.
  const int64_t first_zero = std::find(expected.begin(), expected.end(), 0) - expected.begin();
  ASSERT_LT(first_zero, 96);
  EXPECT_EQ(rows[first_zero + 1], std::to_string(first_zero) + "," +
                                      std::to_string(first_zero % 2) +
                                      ",0,\"left, \"\"square\"\"\"");

  ASSERT_EQ(
      run_cli("embed --checkpoint " + at("run") + " --out " + at("curated.pt") + " --quiet").status,
      0);
  EXPECT_TRUE(read_embeddings_pt(at("curated.pt")).clusters.equal(torch::tensor(expected)));
  ASSERT_EQ(run_cli("embed --checkpoint " + at("run") + " --ignore-curation --out " +
                    at("model.pt") + " --quiet")
                .status,
            0);
  EXPECT_TRUE(read_embeddings_pt(at("model.pt")).clusters.equal(model_clusters));

  // New images go through the curation's cluster map: two moved images do not change which
  // cluster holds most of each model cluster, so the clusters are the model's, with names.
  const std::string dir = at("new_images");
  fs::create_directories(dir);
  for (int64_t i = 0; i < 4; ++i) {
    write_png(dir + "/img" + std::to_string(i) + ".png", images_[i].unsqueeze(0));
  }
  const CliRun predicted =
      run_cli("predict --checkpoint " + at("run") + " --images " + dir + " --out " + at("new.csv"));
  ASSERT_EQ(predicted.status, 0) << predicted.output;
  EXPECT_NE(predicted.output.find("cluster map"), std::string::npos) << predicted.output;
  const auto new_rows = lines_of(read_text(at("new.csv")));
  EXPECT_EQ(new_rows[0].substr(0, 28), "index,path,cluster,name,conf");
  const Predictions p = read_predictions_csv(at("new.csv"));
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(p.cluster[i], model_clusters[i].item<int64_t>());
}

TEST_F(CliModelTest, ReportProducesEveryFile) {
  const CliRun r = run_cli("report " + at("run") +
                           " --tsne-samples 60 --tsne-iterations 100 "
                           "--montage-images 4 --quiet");
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string dir = at("run/report");
  const std::string html = read_text(dir + "/index.html");
  for (const std::string name :
       {"curves.png", "loss.png", "tsne_clusters.png", "tsne_labels.png", "montage.png",
        "confusion.png", "sizes.png", "cluster_0.png", "cluster_1.png", "report.json"}) {
    ASSERT_TRUE(fs::is_regular_file(dir + "/" + name)) << name;
    EXPECT_GT(fs::file_size(dir + "/" + name), 100u) << name;
    if (name != "montage.png") {
      EXPECT_NE(html.find(name), std::string::npos) << name;
    }
  }
  // PNG signature on a gnuplot figure.
  EXPECT_EQ(read_text(dir + "/curves.png").substr(1, 3), "PNG");
  const auto j = nlohmann::json::parse(read_text(dir + "/report.json"));
  EXPECT_EQ(j["tsne"]["samples"], 60);
}

}  // namespace
}  // namespace dcacn
