// dcacn kmeans: the pixel-space k-means baseline.

#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"
#include "dcacn/cluster/kmeans.h"
#include "dcacn/data/registry.h"
#include "dcacn/io/predictions.h"
#include "dcacn/metrics/metrics.h"
#include "dcacn/util/log.h"

namespace dcacn::cli {
namespace {

struct KMeansParams {
  DatasetSpec dataset;        // what to cluster
  std::string split = "all";  // train | test | all | unlabeled
  KMeansOptions kmeans;       // k, n_init, max_iter, tol, seed
  std::string out;            // predictions CSV (optional)
  bool json = false;          // print results as JSON
  RuntimeOptions runtime;     // threads, quiet
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int run_kmeans(KMeansParams& params) {
  apply_runtime_options(params.runtime);
  params.dataset.split = parse_split(params.split);
  const auto t0 = std::chrono::steady_clock::now();
  const Dataset data = load_dataset(params.dataset);
  const double load_s = seconds_since(t0);
  log_info(c10::str("loaded ", data.name, ": ", data.size(), " images ", data.channels(), "x",
                    data.height(), "x", data.width(),
                    data.has_labels() ? c10::str(", ", data.num_classes(), " classes") : "", " in ",
                    load_s, " s"));

  const torch::Tensor x = flatten_to_unit_float(data.images);
  const auto t1 = std::chrono::steady_clock::now();
  const KMeansResult result = kmeans(x, params.kmeans, [&](int64_t r, const KMeansRun& run) {
    char line[160];
    std::snprintf(
        line, sizeof(line),
        "restart %lld/%lld: %lld iterations%s, inertia %.6g, %.1f distance passes, %.2f s",
        static_cast<long long>(r + 1), static_cast<long long>(params.kmeans.n_init),
        static_cast<long long>(run.iterations), run.converged ? "" : " (not converged)",
        run.inertia, run.distance_passes, run.seconds);
    log_info(line);
  });
  const double fit_s = seconds_since(t1);
  log_info(c10::str("k-means++ seeding of ", params.kmeans.n_init,
                    " restarts: ", result.seeding_seconds, " s"));

  if (!params.out.empty()) {
    write_predictions_csv(params.out, result.labels, data.labels, data.paths);
    log_info("wrote " + params.out);
  }
  nlohmann::json out = {{"dataset", data.name},
                        {"samples", data.size()},
                        {"k", params.kmeans.k},
                        {"n_init", params.kmeans.n_init},
                        {"seed", params.kmeans.seed},
                        {"inertia", result.inertia},
                        {"best_restart", result.best_run},
                        {"iterations", result.runs[result.best_run].iterations},
                        {"threads", at::get_num_threads()},
                        {"load_seconds", load_s},
                        {"seeding_seconds", result.seeding_seconds},
                        {"fit_seconds", fit_s}};
  for (const auto& run : result.runs) {
    out["restarts"].push_back({{"iterations", run.iterations},
                               {"converged", run.converged},
                               {"inertia", run.inertia},
                               {"distance_passes", run.distance_passes},
                               {"seconds", run.seconds}});
  }
  ClusteringScores scores;
  if (data.has_labels()) {
    scores = score_clustering(data.labels, result.labels);
    out["acc"] = scores.acc;
    out["nmi"] = scores.nmi;
    out["ari"] = scores.ari;
  }
  if (params.json) {
    std::cout << out.dump(2) << '\n';
  } else {
    char line[160];
    std::snprintf(line, sizeof(line), "k-means K=%lld on %lld samples: inertia %.6g, %.2f s",
                  static_cast<long long>(params.kmeans.k), static_cast<long long>(data.size()),
                  result.inertia, fit_s);
    std::cout << line << '\n';
    if (data.has_labels()) std::cout << format_scores(scores) << '\n';
  }
  return 0;
}

}  // namespace

CommandRunner register_kmeans(CLI::App& app) {
  auto params = std::make_shared<KMeansParams>();
  CLI::App* cmd = app.add_subcommand(
      "kmeans", "k-means on raw pixels scaled to [0, 1] (baseline); prints ACC/NMI/ARI");
  add_dataset_options(cmd, &params->dataset, &params->split);
  cmd->add_option("--k", params->kmeans.k, "number of clusters")->capture_default_str();
  cmd->add_option("--n-init", params->kmeans.n_init, "restarts (best inertia wins)")
      ->capture_default_str();
  cmd->add_option("--max-iter", params->kmeans.max_iter, "Lloyd iterations per restart at most")
      ->capture_default_str();
  cmd->add_option("--tol", params->kmeans.tol,
                  "relative tolerance on the centre shift (scikit-learn's definition)")
      ->capture_default_str();
  cmd->add_option("--seed", params->kmeans.seed, "random seed")->capture_default_str();
  cmd->add_option("--out", params->out, "write predictions CSV (index,cluster[,label][,path])");
  cmd->add_flag("--json", params->json, "print results as JSON");
  add_runtime_options(cmd, &params->runtime);
  return [params] { return run_kmeans(*params); };
}

}  // namespace dcacn::cli
