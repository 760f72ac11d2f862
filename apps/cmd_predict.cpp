// dcacn predict: cluster assignments for image files and folders, as CSV, and optionally one
// folder of links (or copies) per cluster.

#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>

#include "commands.h"
#include "common.h"
#include "dcacn/io/predictions.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/log.h"
#include "model_common.h"

namespace dcacn::cli {
namespace {

namespace fs = std::filesystem;

struct PredictParams {
  ModelChoice model;
  std::vector<std::string> images;
  std::string out;         // CSV; empty: stdout
  std::string group_into;  // one folder per cluster
  bool copy = false;       // copy files instead of linking them
  RuntimeOptions runtime;
};

int run_predict(PredictParams& p) {
  apply_runtime_options(p.runtime);
  const TrainedModel model = load_model(p.model);
  const auto t0 = std::chrono::steady_clock::now();
  const ImageSet set = read_images_for_model(model, p.images);
  const double read_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  InferenceOptions o = inference_options(model, p.model);
  o.features = o.embeddings = false;
  o.progress = p.runtime.quiet ? "" : "predicting";
  const auto t1 = std::chrono::steady_clock::now();
  const ModelOutputs out = model.run(set.images, o);
  const double run_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  const auto curated = curated_clusters(p.model, out.probabilities, /*run_images=*/false);
  const std::string csv = prediction_table(set.paths, torch::Tensor(), out.probabilities,
                                           curated ? &*curated : nullptr);
  if (!p.group_into.empty()) {
    if (curated) {
      std::vector<std::string> folders;
      for (const std::string& name : curated->names) folders.push_back(folder_name(name));
      group_into(p.group_into, set.paths, curated->clusters,
                 static_cast<int64_t>(curated->names.size()), p.copy, folders);
    } else {
      group_into(p.group_into, set.paths, out.probabilities.argmax(1), model.clusters(), p.copy);
    }
    log_info(c10::str("grouped ", set.paths.size(), " images into ", p.group_into,
                      p.copy ? " (copies)" : " (links)"));
  }
  if (p.out.empty()) {
    std::cout << csv;
  } else {
    write_file_atomic(p.out, csv);
    log_info("wrote " + p.out);
  }
  const double total = read_s + run_s;
  log_info(c10::str(set.paths.size(), " images: reading ", read_s, " s, network ", run_s, " s, ",
                    static_cast<int64_t>(set.paths.size() / std::max(total, 1e-9)), " images/s"));
  return 0;
}

}  // namespace

CommandRunner register_predict(CLI::App& app) {
  auto p = std::make_shared<PredictParams>();
  CLI::App* cmd = app.add_subcommand(
      "predict", "assign image files to clusters: CSV with confidence and top-3 clusters");
  add_model_options(cmd, &p->model);
  cmd->add_option("--images", p->images, "image files and folders (searched recursively)")
      ->required();
  cmd->add_option("--out", p->out, "CSV file to write (default: standard output)");
  cmd->add_option("--group-into", p->group_into,
                  "also lay out one sub-folder per cluster here (links to the images)");
  cmd->add_flag("--copy", p->copy, "with --group-into: copy the images instead of linking");
  add_runtime_options(cmd, &p->runtime);
  return [p] { return run_predict(*p); };
}

}  // namespace dcacn::cli
