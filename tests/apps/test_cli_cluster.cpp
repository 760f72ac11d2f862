// `dcacn cluster` as a practitioner runs it on a folder of images.

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../test_util.h"
#include "cli_util.h"
#include "dcacn/io/image_grid.h"
#include "dcacn/model/state_dict.h"

namespace dcacn {
namespace {

namespace fs = std::filesystem;
using test::CliRun;
using test::read_text;
using test::run_cli;

class CliClusterTest : public test::TempDirTest {
 protected:
  // `count` 16x16 grey images: a bright square top-left (class "a") or bottom-right ("b").
  void write_squares(const std::string& folder, int64_t count, bool labelled) {
    for (int64_t i = 0; i < count; ++i) {
      torch::Tensor image = torch::randint(0, 60, {1, 16, 16}).to(torch::kUInt8);
      const bool second = i % 2 == 1;
      image.narrow(1, second ? 9 : 1, 6).narrow(2, second ? 9 : 1, 6).fill_(230);
      const std::string sub = labelled ? (second ? "/b/" : "/a/") : "/";
      write_png(path(folder + sub + "img" + std::to_string(i) + ".png"), image);
    }
  }
  // A small, fast network and pipeline on top of the derived settings.
  static std::string tiny() {
    return " --arch resnet18 --width 4 --stages contrastive:steps=3,neighbours "
           "--neighbour-heads 2 --neighbour-epochs 2 --device cpu --quiet";
  }
};

TEST_F(CliClusterTest, ALabelledFolderIsClusteredInOneCommand) {
  write_squares("photos", 64, true);
  const CliRun r =
      run_cli("cluster " + path("photos") + " --out " + path("run") +
              " --k auto --k-range 2-4 --k-criterion heads --minutes 5 --precision fp32" + tiny());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("clustered 64 images into "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ACC "), std::string::npos) << r.output;  // labels: scores
  // The derived settings are the run's configuration, overridden where options were given.
  const auto config = nlohmann::json::parse(read_text(path("run/config.json")));
  EXPECT_EQ(config["preset"], "cluster");
  EXPECT_EQ(config["folder_image_size"], 16);
  EXPECT_EQ(config["channels"], 1);
  EXPECT_EQ(config["views"], "2x16@0.2-1,4x8@0.05-0.5");
  EXPECT_EQ(config["batch_size"], 16);
  EXPECT_EQ(config["width"], 4);
  EXPECT_EQ(config["k_range"], "2-4");
  EXPECT_EQ(config["k_criterion"], "heads");
  EXPECT_EQ(config["time_budget_minutes"], 5);
  // The criterion of every K, and the K chosen is the network's.
  const std::string k = read_text(path("run/k_estimate.csv"));
  EXPECT_EQ(k.rfind("k,agreement,standard_error,reference,criterion,chosen\n2,", 0), 0u) << k;
  EXPECT_NE(k.find("\n4,"), std::string::npos) << k;
  const size_t chosen_row = k.find(",1\n");
  ASSERT_NE(chosen_row, std::string::npos) << k;
  const int64_t chosen = std::stoll(k.substr(k.rfind('\n', chosen_row) + 1));
  EXPECT_NE(r.output.find("into " + std::to_string(chosen) + " clusters"), std::string::npos)
      << r.output;
  // Predictions with paths and labels, one folder of links per cluster, the report.
  const std::string csv = read_text(path("run/predictions.csv"));
  EXPECT_EQ(csv.rfind("index,path,label,cluster,confidence", 0), 0u) << csv.substr(0, 80);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 65);
  int64_t linked = 0;
  for (const auto& folder : fs::directory_iterator(path("run/clusters"))) {
    for (const auto& file : fs::directory_iterator(folder.path())) {
      EXPECT_TRUE(fs::is_symlink(file.path()));
      ++linked;
    }
  }
  EXPECT_EQ(linked, 64);
  EXPECT_TRUE(fs::exists(path("run/report/index.html")));
  // The predictions are the run's final clustering, taken from its last evaluation's features
  // and the kept head rather than from the images read and run again: the same cluster sizes as
  // final.json, and image by image what `predict` gives when it runs the saved model.
  const auto final_json = nlohmann::json::parse(read_text(path("run/final.json")));
  ASSERT_EQ(run_cli("predict --checkpoint " + path("run") + " --images " + path("photos") +
                    " --out " + path("again.csv") + " --quiet")
                .status,
            0);
  // path -> (cluster, confidence) of a predictions table whose cluster is in `column` and
  // confidence in the next one.
  const auto by_path = [](const std::string& table, int column) {
    std::map<std::string, std::pair<int64_t, double>> out;
    std::istringstream rows(table);
    std::string row;
    std::getline(rows, row);  // header
    while (std::getline(rows, row)) {
      std::vector<std::string> cells;
      std::stringstream cell_stream(row);
      for (std::string cell; std::getline(cell_stream, cell, ',');) cells.push_back(cell);
      if (static_cast<int>(cells.size()) > column + 1) {
        out[cells[1]] = {std::stoll(cells[column]), std::stod(cells[column + 1])};
      }
    }
    return out;
  };
  const auto written = by_path(csv, 3);  // index,path,label,cluster,confidence,...
  const auto again = by_path(read_text(path("again.csv")), 2);  // index,path,cluster,confidence
  ASSERT_EQ(written.size(), 64u);
  ASSERT_EQ(again.size(), 64u);
  std::vector<int64_t> sizes(final_json["cluster_sizes"].size(), 0);
  for (const auto& [file, cluster_confidence] : written) {
    const auto [cluster, confidence] = cluster_confidence;
    ASSERT_LT(cluster, static_cast<int64_t>(sizes.size())) << file;
    ++sizes[cluster];
    ASSERT_EQ(again.count(file), 1u) << file;
    EXPECT_EQ(cluster, again.at(file).first) << file;
    EXPECT_NEAR(confidence, again.at(file).second, 1e-4) << file;
  }
  EXPECT_EQ(sizes, final_json["cluster_sizes"].get<std::vector<int64_t>>());
}

TEST_F(CliClusterTest, BadInputStopsWithOneLineAndWritesNothing) {
  fs::create_directories(path("empty"));
  write_squares("one", 1, false);
  write_squares("forty", 40, false);
  save_tensors({{"weight", torch::zeros({2})}}, path("other.pth"));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"cluster " + path("empty"), "no images found in " + path("empty")},
      {"cluster " + path("missing"), "image folder not found: " + path("missing")},
      {"cluster " + path("one"), "holds 1 image; clustering needs at least 32"},
      {"cluster " + path("forty") + " --k 21", "--k 21 is more than"},
      {"cluster " + path("forty"), "--k auto: the range 2-30 goes up to 30 clusters"},
      {"cluster " + path("forty") + " --k many", "--k must be auto or a number"},
      {"cluster " + path("forty") + " --k 2 --init-weights " + path("other.pth"),
       "is not a torchvision ResNet state dict"},
  };
  for (const auto& [args, message] : cases) {
    const CliRun r = run_cli(args + " --out " + path("run") + tiny());
    EXPECT_EQ(r.status, 1) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
    EXPECT_FALSE(fs::exists(path("run"))) << args;
  }
}

}  // namespace
}  // namespace dcacn
