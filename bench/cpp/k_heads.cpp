// The heads' K criterion (train/heads_k_estimation.h) on a trained run's features, as the
// neighbour stage computes it, for several sample sizes: for each --rows M, M random images
// (the seed's draw), their pixel neighbours mined among them, the stage's heads (or --batch),
// and the K chosen, the K of the largest criterion, the seconds and the run's estimate of them. The
// folder's labels give the true K for the table only. Prints one JSON object per line.
// With --input pixels the heads are trained on the rows' whitened pixel components instead of
// the run's features; without --run, on Fashion-MNIST (or --fmnist-classes of it) directly.
//   dcacn_bench_k_heads --run RUN [--rows 2000 10000] [--min-k 2] [--max-k 30] [--seed 0]
//       [--draws 2] [--heads 8] [--passes 5] [--batch B] [--input features|pixels] [--bf16]
//   dcacn_bench_k_heads --input pixels [--fmnist-classes 5,7,9] [--split all|test] ...

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "dcacn/data/registry.h"
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
  std::string input = "features", classes, split = "all";
  bool bf16 = false;
  auto* run_option = app.add_option("--run", run, "a run folder (its data and its features)");
  app.add_option("--input", input,
                 "what the heads are trained on: features (the run's) or pixels (the rows' "
                 "whitened principal components: the stage's pixel space, pixel_rows)")
      ->check(CLI::IsMember({"features", "pixels"}))
      ->capture_default_str();
  app.add_option("--fmnist-classes", classes,
                 "without --run: Fashion-MNIST's images of these classes (e.g. 5,7,9), "
                 "--input pixels; empty: all ten")
      ->excludes(run_option);
  app.add_option("--split", split, "without --run: Fashion-MNIST's split")->capture_default_str();
  app.add_flag("--bf16", bf16, "the heads' products in bf16 (as the neighbour stage's)");
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

  Dataset data;
  torch::Tensor features;
  if (!run.empty()) {
    const TrainedModel model = load_trained_model(run, "cpu", "last");
    data = load_dataset_for(model);
    if (input == "features") {
      InferenceOptions io = model.inference_options();
      io.embeddings = false;
      features = model.run(data.images, io).features;
    }
  } else {
    if (input != "pixels") {
      std::cerr << "without --run, --input must be pixels\n";
      return 2;
    }
    DatasetSpec spec;
    spec.split = parse_split(split);
    data = load_dataset(spec);
    if (!classes.empty()) {
      // The labels build the subset only, as bench/k_estimation's folders.
      torch::Tensor keep = torch::zeros_like(data.labels, torch::kBool);
      std::stringstream list(classes);
      for (std::string c; std::getline(list, c, ',');)
        keep |= data.labels == static_cast<int64_t>(std::stoll(c));
      const torch::Tensor rows = keep.nonzero().squeeze(1);
      data.images = data.images.index_select(0, rows).contiguous();
      data.labels = data.labels.index_select(0, rows);
      run = "fashion-mnist " + split + " classes " + classes;
    } else {
      run = "fashion-mnist " + split;
    }
  }
  const int64_t n = data.size();
  const int64_t truth =
      data.has_labels() ? std::get<0>(at::_unique(data.labels)).numel() : int64_t{0};
  for (int64_t m : rows) {
    m = std::min(m, n);
    // The stage's draw (neighbour_stage.cpp): its own generator from the seed.
    at::Generator generator = at::detail::createCPUGenerator(seed * 7919ULL + 13);
    const torch::Tensor index =
        torch::randperm(n, generator, torch::TensorOptions().dtype(torch::kInt64)).narrow(0, 0, m);
    const torch::Tensor images = data.images.index_select(0, index);
    const torch::Tensor sample =
        input == "features" ? features.index_select(0, index)
                            : pixel_rows(images, /*whiten=*/true, torch::kCPU).to(torch::kFloat32);
    const torch::Tensor graph = mine_neighbours_of(
        images, sample, NeighbourSpace::kPixels, std::min(k, m - 1), /*whiten=*/true, torch::kCPU);
    HeadsKEstimationOptions o;
    o.min_k(min_k).max_k(max_k).draws(draws).seed(seed);
    // The stage's batch (512) unless --batch gives one.
    o.heads().heads(heads).epochs(passes).batch_size(batch > 0 ? batch : o.heads().batch_size());
    o.heads().bf16(bf16);
    // What a run reserves for the criterion (the neighbour stage's estimate), beside its time.
    const double estimated =
        heads_k_estimation_seconds(o, m, sample.size(1), std::min(k, m - 1), torch::kCPU);
    const KEstimate e = estimate_clusters_by_heads(sample, graph, o);
    nlohmann::json line = {{"run", run},
                           {"images", n},
                           {"true_k", truth},
                           {"rows", m},
                           {"input", input},
                           {"bf16", bf16},
                           {"batch", o.heads().batch_size()},
                           {"draws", draws},
                           {"heads", heads},
                           {"passes", passes},
                           {"seed", seed},
                           {"chosen", e.chosen},
                           {"best", e.best},
                           {"seconds", e.seconds},
                           {"estimated_seconds", estimated},
                           {"criterion", e.criterion},
                           {"standard_error", e.spread}};
    std::cout << line.dump() << std::endl;
  }
  return 0;
}
