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

// The common columns (index, path, cluster), then the confidence and the top-k clusters.
std::string prediction_table(const ImageSet& set, const torch::Tensor& probabilities) {
  const int64_t k = probabilities.size(1), top = std::min<int64_t>(3, k);
  const auto [values, ids] = probabilities.topk(top, 1);
  const auto v = values.accessor<float, 2>();
  const auto c = ids.accessor<int64_t, 2>();
  ExtraColumns extra;
  extra.names = {"confidence"};
  for (int64_t t = 1; t <= top; ++t) {
    extra.names.push_back(c10::str("top", t));
    extra.names.push_back(c10::str("top", t, "_probability"));
  }
  extra.row = [&](int64_t i, std::string& line) {
    char number[32];
    std::snprintf(number, sizeof(number), ",%.6f", v[i][0]);
    line += number;
    for (int64_t t = 0; t < top; ++t) {
      std::snprintf(number, sizeof(number), ",%.6f", v[i][t]);
      line += "," + std::to_string(c[i][t]) + number;
    }
  };
  return predictions_csv(ids.select(1, 0), torch::Tensor(), set.paths, extra);
}

// Lays out DIR/cluster_NN/<file name> (links, or copies with --copy) in a sibling temporary
// folder and renames it into place, so DIR is either complete or absent.
void group_into(const std::string& dir, const ImageSet& set, const torch::Tensor& clusters,
                int64_t k, bool copy) {
  DCACN_CHECK(!fs::exists(dir) || (fs::is_directory(dir) && fs::is_empty(dir)), "--group-into ",
              dir, " already exists and is not empty; choose a new folder");
  const fs::path target = fs::absolute(dir);
  const fs::path staging = target.string() + ".partial";
  fs::remove_all(staging);
  fs::create_directories(staging);
  const int width = static_cast<int>(std::to_string(std::max<int64_t>(k - 1, 1)).size());
  std::map<std::string, int> used;  // names already taken per folder
  const auto id = clusters.accessor<int64_t, 1>();
  try {
    for (size_t i = 0; i < set.paths.size(); ++i) {
      std::string sub = std::to_string(id[i]);
      sub = "cluster_" + std::string(std::max<int>(0, width - static_cast<int>(sub.size())), '0') +
            sub;
      const fs::path folder = staging / sub;
      fs::create_directories(folder);
      const fs::path source = fs::absolute(set.paths[i]);
      std::string name = source.filename().string();
      // Same file name from different folders: name~2.png, name~3.png, ...
      const int n = ++used[sub + "/" + name];
      if (n > 1) {
        name = source.stem().string() + "~" + std::to_string(n) + source.extension().string();
      }
      if (copy) {
        fs::copy_file(source, folder / name);
      } else {
        fs::create_symlink(source, folder / name);
      }
    }
    if (fs::exists(target)) fs::remove(target);  // the empty folder checked above
    fs::rename(staging, target);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(staging);
    throw InputError(c10::str("cannot lay out --group-into ", dir, ": ", e.what()));
  }
}

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
  const std::string csv = prediction_table(set, out.probabilities);
  const torch::Tensor clusters = out.probabilities.argmax(1);
  if (!p.group_into.empty()) {
    group_into(p.group_into, set, clusters, model.clusters(), p.copy);
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
