// The neighbour stage's parts on a trained run, timed one after the other on the same features:
// mining the pixel neighbours, then the heads trained one after the other (the path before the
// heads were batched: the reference), batched, and batched with the stopping rule, each of the
// last two also with bf16 products. For each way
// of training the heads: seconds, passes, the kept head and its consistency, and the scores of
// its clusters (the labels score the table only). Prints one JSON object.

#include <ATen/Parallel.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "dcacn/infer/inference.h"
#include "dcacn/metrics/metrics.h"
#include "dcacn/train/neighbour_head.h"
#include "dcacn/train/neighbour_mining.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dcacn;
  CLI::App app{"the neighbour stage's parts, timed on a trained run"};
  std::string run;
  int64_t k = 20, heads = 8, passes = 20, patience = 2;
  double tolerance = 0.01;
  uint64_t seed = 0;
  bool reference = true;
  app.add_option("--run", run, "a run folder")->required();
  app.add_option("--k", k)->capture_default_str();
  app.add_option("--heads", heads)->capture_default_str();
  app.add_option("--passes", passes)->capture_default_str();
  app.add_option("--patience", patience, "of the stopping rule")->capture_default_str();
  app.add_option("--tolerance", tolerance, "of the stopping rule")->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  app.add_flag("!--no-reference", reference, "skip the one-head-at-a-time path");
  bool bf16_ways = true;
  app.add_flag("!--no-bf16", bf16_ways, "skip the heads with bf16 products");
  std::vector<int64_t> pass_grid;
  app.add_option("--pass-grid", pass_grid, "also train the batched heads for these passes");
  int64_t estimates = 0;
  app.add_option("--estimates", estimates,
                 "also time the heads' start-up estimate (train/neighbour_head.h: "
                 "neighbour_heads_seconds) this many times, for --passes passes")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // All cores, as the dcacn command sets them (LibTorch's default may count physical cores).
  at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));

  const TrainedModel model = load_trained_model(run, "cpu", "last");
  const Dataset data = load_dataset_for(model);
  InferenceOptions io = model.inference_options();
  io.embeddings = false;
  auto t = std::chrono::steady_clock::now();
  const ModelOutputs out = model.run(data.images, io);
  const double features_s = seconds_since(t);

  // Mining as before (float32 products) and as the stage now does (the faster way, measured).
  t = std::chrono::steady_clock::now();
  const torch::Tensor float32_neighbours =
      mine_neighbours_of(data.images, torch::Tensor(), NeighbourSpace::kPixels, k, /*whiten=*/true,
                         torch::kCPU, nullptr, nullptr, NeighbourOptions::Products::kFloat32);
  const double float32_s = seconds_since(t);
  t = std::chrono::steady_clock::now();
  NeighbourSearch search;
  const torch::Tensor neighbours =
      mine_neighbours_of(data.images, torch::Tensor(), NeighbourSpace::kPixels, k, /*whiten=*/true,
                         torch::kCPU, nullptr, &search);
  const double mining_s = seconds_since(t);
  double agreement = -1, float32_agreement = -1;
  if (data.has_labels()) {
    agreement = neighbour_agreement(data.labels, neighbours).mean().item<double>();
    float32_agreement = neighbour_agreement(data.labels, float32_neighbours).mean().item<double>();
  }
  // Neighbours the two ways share (as sets per image).
  const torch::Tensor same = (neighbours.unsqueeze(2) == float32_neighbours.unsqueeze(1))
                                 .any(2)
                                 .to(torch::kFloat64)
                                 .mean();

  nlohmann::json result = {
      {"images", data.size()},
      {"features_seconds", features_s},
      {"mining_seconds", mining_s},
      {"mining_float32_seconds", float32_s},
      {"mining_used_shortlist", search.used == NeighbourOptions::Products::kShortlist},
      {"mining_timed_chunks", {search.float32_seconds, search.shortlist_seconds}},
      {"neighbours_same_as_float32", same.item<double>()},
      {"neighbours_sharing_class", agreement},
      {"float32_neighbours_sharing_class", float32_agreement},
      {"ways", nlohmann::json::array()}};
  const ClusterHeadOptions head = model.model->cluster_head->options;
  const auto train = [&](const std::string& name, bool batched, int64_t stop_patience,
                         int64_t max_passes, bool bf16 = false) {
    NeighbourHeadOptions o;
    o.heads(heads)
        .epochs(max_passes)
        .seed(seed)
        .batched(batched)
        .bf16(bf16)
        .patience(stop_patience)
        .tolerance(tolerance);
    const auto start = std::chrono::steady_clock::now();
    NeighbourHeadResult r = train_neighbour_heads(out.features, neighbours, head, o);
    const double s = seconds_since(start);
    torch::NoGradGuard no_grad;
    const torch::Tensor predicted = r.head->forward(out.features).argmax(1);
    nlohmann::json way = {{"way", name},
                          {"seconds", s},
                          {"passes", r.epochs},
                          {"kept_head", r.chosen},
                          {"consistency", r.consistency[r.chosen]},
                          {"consistency_per_head", r.consistency},
                          {"epoch_consistency", r.epoch_consistency}};
    if (data.has_labels()) {
      const ClusteringScores sc = score_clustering(data.labels, predicted);
      way["acc"] = sc.acc;
      way["nmi"] = sc.nmi;
      way["ari"] = sc.ari;
    }
    result["ways"].push_back(way);
    std::cerr << way.dump() << std::endl;
  };
  if (reference) train("one head after the other (before)", false, 0, passes);
  train("batched", true, 0, passes);
  train("batched, stopping rule", true, patience, passes);
  if (bf16_ways) {
    train("batched, bf16 products", true, 0, passes, true);
    train("batched, bf16 products, stopping rule", true, patience, passes, true);
  }
  for (int64_t p : pass_grid) train(c10::str("batched, ", p, " passes"), true, 0, p);
  // What a run's budget reserves for the heads at start-up, against the "batched" way above.
  nlohmann::json estimated = nlohmann::json::array();
  for (int64_t i = 0; i < estimates; ++i) {
    NeighbourHeadOptions o;
    o.heads(heads).epochs(passes).seed(seed);
    estimated.push_back(neighbour_heads_seconds(head, o, data.size(), k, torch::kCPU));
  }
  if (estimates > 0) result["heads_estimates_seconds"] = estimated;
  std::cout << result.dump(2) << std::endl;
  return 0;
}
