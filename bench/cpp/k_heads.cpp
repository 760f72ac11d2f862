// The heads' K criterion (train/heads_k_estimation.h) on a trained run's features, as the
// neighbour stage computes it, for several sample sizes: for each --rows M, M random images
// (the seed's draw), their pixel neighbours mined among them, the stage's heads (or --batch),
// and the K chosen, the K of the largest criterion and the seconds. The
// folder's labels give the true K for the table only. Prints one JSON object per line.
//   dcacn_bench_k_heads --run RUN [--rows 2000 10000] [--min-k 2] [--max-k 30] [--seed 0]
//       [--draws 2] [--heads 8] [--passes 5] [--batch B]

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "dcacn/infer/inference.h"
#include "dcacn/train/heads_k_estimation.h"
#include "dcacn/train/neighbour_mining.h"

int main(int argc, char** argv) {
  using namespace dcacn;
  CLI::App app{"the heads' K criterion on a trained run's features, for several sample sizes"};
  std::string run;
  std::vector<int64_t> rows = {2000, 10000};
  int64_t min_k = 2, max_k = 30, draws = 2, heads = 8, passes = 5, batch = 0, k = 20;
  uint64_t seed = 0;
  app.add_option("--run", run, "a run folder")->required();
  app.add_option("--rows", rows, "sample sizes")->capture_default_str();
  app.add_option("--min-k", min_k)->capture_default_str();
  app.add_option("--max-k", max_k)->capture_default_str();
  app.add_option("--draws", draws)->capture_default_str();
  app.add_option("--heads", heads)->capture_default_str();
  app.add_option("--passes", passes)->capture_default_str();
  app.add_option("--batch", batch, "the heads' batch; 0: the stage's")->capture_default_str();
  app.add_option("--k", k, "neighbours per image")->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));

  const TrainedModel model = load_trained_model(run, "cpu", "last");
  const Dataset data = load_dataset_for(model);
  InferenceOptions io = model.inference_options();
  io.embeddings = false;
  const ModelOutputs out = model.run(data.images, io);
  const int64_t n = data.size();
  const int64_t truth =
      data.has_labels() ? std::get<0>(at::_unique(data.labels)).numel() : int64_t{0};
  for (int64_t m : rows) {
    m = std::min(m, n);
    // The stage's draw (neighbour_stage.cpp): its own generator from the seed.
    at::Generator generator = at::detail::createCPUGenerator(seed * 7919ULL + 13);
    const torch::Tensor index =
        torch::randperm(n, generator, torch::TensorOptions().dtype(torch::kInt64)).narrow(0, 0, m);
    const torch::Tensor sample = out.features.index_select(0, index);
    const torch::Tensor graph =
        mine_neighbours_of(data.images.index_select(0, index), sample, NeighbourSpace::kPixels,
                           std::min(k, m - 1), /*whiten=*/true, torch::kCPU);
    HeadsKEstimationOptions o;
    o.min_k(min_k).max_k(max_k).draws(draws).seed(seed);
    // The stage's batch (512) unless --batch gives one.
    o.heads().heads(heads).epochs(passes).batch_size(batch > 0 ? batch : o.heads().batch_size());
    const KEstimate e = estimate_clusters_by_heads(sample, graph, o);
    nlohmann::json line = {{"run", run},
                           {"images", n},
                           {"true_k", truth},
                           {"rows", m},
                           {"batch", o.heads().batch_size()},
                           {"draws", draws},
                           {"heads", heads},
                           {"passes", passes},
                           {"seed", seed},
                           {"chosen", e.chosen},
                           {"best", e.best},
                           {"seconds", e.seconds},
                           {"criterion", e.criterion},
                           {"standard_error", e.spread}};
    std::cout << line.dump() << std::endl;
  }
  return 0;
}
