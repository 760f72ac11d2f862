// The neighbour stage's heads on one trained run's frozen features, under a grid of settings:
// the space the neighbours are mined in, their number k, the entropy weight, the number of heads
// and passes. For each setting: the kept head's scores (the labels score the table only), its
// label-free fit to the pixel and feature graphs (train/neighbour_mining.h: neighbour_fit), and
// the scores of the heads' aligned average. Prints one JSON object per setting (one per line).

#include <ATen/Parallel.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "dcacn/infer/inference.h"
#include "dcacn/metrics/metrics.h"
#include "dcacn/train/neighbour_head.h"
#include "dcacn/train/neighbour_mining.h"

int main(int argc, char** argv) {
  using namespace dcacn;
  CLI::App app{"the neighbour stage's heads on a trained run's features, over a grid of settings"};
  std::string run;
  std::vector<std::string> spaces{"features"};
  std::vector<int64_t> ks{20}, heads{8}, passes{20};
  std::vector<double> entropies{5.0};
  uint64_t seed = 0;
  app.add_option("--run", run, "a run folder")->required();
  app.add_option("--spaces", spaces, "pixels, features, both")->capture_default_str();
  app.add_option("--k", ks)->capture_default_str();
  app.add_option("--entropy", entropies)->capture_default_str();
  app.add_option("--heads", heads)->capture_default_str();
  app.add_option("--passes", passes)->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));

  const TrainedModel model = load_trained_model(run, "cpu", "last");
  const Dataset data = load_dataset_for(model);
  TORCH_CHECK(data.has_labels(), "the screen scores heads against labels: ", run,
              "'s data has none");
  InferenceOptions io = model.inference_options();
  io.embeddings = false;
  const ModelOutputs out = model.run(data.images, io);
  const ClusterHeadOptions head = model.model->cluster_head->options;
  const int64_t max_k = *std::max_element(ks.begin(), ks.end());

  // One graph per space at the largest k; smaller k take its first columns (nearest first).
  std::map<std::string, torch::Tensor> graphs;
  const auto graph = [&](const std::string& name) -> const torch::Tensor& {
    auto it = graphs.find(name);
    if (it == graphs.end()) {
      const NeighbourSpace space = parse_neighbour_space(name, "--spaces");
      it = graphs
               .emplace(name, mine_neighbours_of(data.images, out.features, space, max_k,
                                                 /*whiten=*/true, torch::kCPU))
               .first;
    }
    return it->second;
  };
  const torch::Tensor pixel_graph = graph("pixels").narrow(1, 0, 20);
  const torch::Tensor feature_graph = graph("features").narrow(1, 0, 20);

  for (const std::string& space : spaces) {
    for (int64_t k : ks) {
      const torch::Tensor neighbours = graph(space).narrow(1, 0, k).contiguous();
      const double purity = neighbour_agreement(data.labels, neighbours).mean().item<double>();
      for (double w : entropies) {
        for (int64_t h : heads) {
          for (int64_t p : passes) {
            NeighbourHeadOptions o;
            o.heads(h).epochs(p).entropy_weight(w).seed(seed);
            NeighbourHeadResult r = train_neighbour_heads(out.features, neighbours, head, o);
            torch::NoGradGuard no_grad;
            const torch::Tensor predicted = r.head->forward(out.features).argmax(1);
            const ClusteringScores sc = score_clustering(data.labels, predicted);
            nlohmann::json row = {{"run", run},
                                  {"space", space},
                                  {"k", k},
                                  {"purity", purity},
                                  {"entropy", w},
                                  {"heads", h},
                                  {"passes", r.epochs},
                                  {"kept", r.chosen},
                                  {"acc", sc.acc},
                                  {"nmi", sc.nmi},
                                  {"ari", sc.ari},
                                  {"fit_pixels", neighbour_fit(predicted, pixel_graph)},
                                  {"fit_features", neighbour_fit(predicted, feature_graph)},
                                  {"agreement", r.agreement}};
            std::cout << row.dump() << std::endl;
          }
        }
      }
    }
  }
  return 0;
}
