// dcacn cluster DIR: a user's folder of images, clustered in one command. The settings are
// derived from the images (src/dcacn/run/folder_preset.h), the run trains within --minutes in
// all (the same pipeline and trainer as `dcacn train`), and the command then writes the
// predictions, one folder of links per cluster and the report.

#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "common.h"
#include "dcacn/metrics/metrics.h"
#include "dcacn/model/resnet.h"
#include "dcacn/report/report.h"
#include "dcacn/run/folder_preset.h"
#include "dcacn/run/setup.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/log.h"
#include "model_common.h"
#include "stop_signals.h"
#include "train_options.h"

namespace dcacn::cli {
namespace {

namespace fs = std::filesystem;

struct ClusterParams {
  std::string folder;
  double minutes = 10;
  std::string k = "auto";
  std::string out;  // empty: runs/<folder name>
  bool overwrite = false;
  bool copy = false;
  TrainParams train;
};

int64_t parse_k(const std::string& text) {
  if (text == "auto") return 0;
  try {
    size_t used = 0;
    const long long k = std::stoll(text, &used);
    if (used == text.size() && k >= 2) return k;
  } catch (const std::exception&) {
  }
  throw InputError("--k must be auto or a number of clusters >= 2, got '" + text + "'");
}

std::string default_out(const std::string& folder) {
  std::string name = fs::path(folder).lexically_normal().filename().string();
  if (name.empty() || name == "." || name == "..") {
    name = fs::absolute(folder).lexically_normal().parent_path().filename().string();
  }
  return "runs/" + (name.empty() ? std::string("cluster") : name);
}

// The settings the folder gave, in one line for the log (config.json holds every value).
std::string derived_line(const TrainConfig& c) {
  return c10::str("settings from the folder: input ", c.channels, "x", c.folder_image_size, "x",
                  c.folder_image_size, ", views ", c.views, ", ResNet-", c.depth, " width ",
                  c.width, ", batch ", c.batch_size, ", ",
                  c.k_range.empty() ? c10::str("K = ", c.clusters)
                                    : c10::str("K estimated in ", c.k_range, " (--k-criterion ",
                                               c.k_criterion, ")"),
                  ", stages ", c.stages, ", ", c.time_budget_minutes,
                  " min in all (any train option overrides these; all are in config.json)");
}

// The final model's outputs over the run's images. The run's last evaluation scored that model
// on all of them and kept its features (and its probabilities, unless a whole stage such as the
// neighbour stage ended the run; then the kept cluster head gives them from the features, as
// that stage's predictions were made): nothing is read or run again. A run without them
// (interrupted and resumed elsewhere) runs the model again.
ModelOutputs final_outputs(const TrainedModel& model, const Dataset& data,
                           const TrainResult& result) {
  const EvalResult& ev = result.last_eval;
  if (ev.features.defined() && ev.features.size(0) == data.size()) {
    ModelOutputs o;
    o.features = ev.features;
    if (ev.probabilities.defined() && ev.probabilities.size(1) == model.clusters()) {
      o.probabilities = ev.probabilities;
    } else {
      torch::NoGradGuard no_grad;
      DCACN network = model.model;  // the same module, not a copy
      network->eval();
      o.probabilities =
          network->cluster_head->forward(ev.features.to(model.device, torch::kFloat32))
              .to(torch::kCPU);
    }
    return o;
  }
  InferenceOptions o = model.inference_options();
  o.embeddings = false;  // the features go to the report's t-SNE
  o.progress = "predicting";
  return model.run(data.images, o);
}

// After training: predictions of every image, the folders by cluster, the report.
// `report_expected`: what keep_report_time() kept for the report (0: nothing).
int finish(const ClusterParams& p, const std::string& out, const TrainResult& result,
           double report_expected) {
  const TrainedModel model = load_trained_model(out, "auto", "last");
  const Dataset data = result.data.size() > 0 ? result.data : load_dataset_for(model);
  const ModelOutputs outputs = final_outputs(model, data, result);
  const torch::Tensor clusters = outputs.probabilities.argmax(1);
  const std::string csv = out + "/predictions.csv";
  write_file_atomic(csv, prediction_table(data.paths, data.labels, outputs.probabilities));
  const std::string folders = out + "/clusters";
  if (fs::exists(folders)) fs::remove_all(folders);  // an earlier cluster's, this run's own
  group_into(folders, data.paths, clusters, model.clusters(), p.copy);
  ReportOptions report;
  report.run_dir = out;
  report.dataset = &data;
  report.outputs = &outputs;
  const auto report_start = std::chrono::steady_clock::now();
  const ReportResult r = make_report(report);
  const double report_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - report_start).count();
  std::cout << "clustered " << with_thousands(data.size()) << " images into " << model.clusters()
            << " clusters (" << result.step << " steps, " << format_duration(result.train_seconds)
            << ")\n"
            << "  predictions: " << csv << "\n  folders:     " << folders << "/cluster_NN ("
            << (p.copy ? "copies" : "links") << ")\n  report:      " << r.index << " ("
            << fixed(report_seconds, 1) << " s"
            << (report_expected > 0 ? ", expected " + fixed(report_expected, 1) + " s" : "")
            << ")\n";
  if (fs::exists(out + "/k_estimate.csv")) {
    std::cout << "  K:           estimated, criterion per K in " << out << "/k_estimate.csv\n";
  }
  std::cout << "  review:      dcacn serve " << out
            << " (a page to rename, merge, split and move; then dcacn export)\n";
  if (data.has_labels())
    std::cout << format_scores(score_clustering(data.labels, clusters)) << '\n';
  return 0;
}

// --minutes covers the report too: its expected time (finish()'s report, timed here on random
// features of the run's shape) is kept from the run's budget, and the time spent timing it taken
// from it.
double keep_report_time(Trainer& trainer, const TrainConfig& config, int64_t images) {
  if (config.time_budget_minutes <= 0) return 0;
  const auto start = std::chrono::steady_clock::now();
  const double report = estimate_report_seconds(ReportOptions(), images,
                                                backbone_feature_dim(config.depth, config.width));
  const double timing =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  trainer.keep_after_run(report + timing);
  log_info(c10::str("the report is expected to take ", fixed(report, 1), " s",
                    " (its t-SNE timed on random features of this run's shape; timing it took ",
                    fixed(timing, 1), " s): the training stages end that much earlier"));
  return report;
}

int run_cluster(ClusterParams& p) {
  apply_runtime_options(p.train.runtime);
  DCACN_CHECK(!p.folder.empty(), "give the folder of images to cluster: dcacn cluster DIR");
  FolderPresetOptions preset_options;
  preset_options.minutes = p.minutes;
  preset_options.clusters = parse_k(p.k);
  if (given(p.train, "--k-range")) preset_options.k_range = p.train.parsed.k_range;
  preset_options.gpu =
      pick_device(given(p.train, "--device") ? p.train.parsed.device : "auto").is_cuda();
  const FolderSurvey survey = survey_image_folder(p.folder);
  log_info("folder " + p.folder + ": " + survey.summary());
  std::string notes;
  TrainConfig config = folder_preset(survey, preset_options, &notes);
  for (size_t start = 0; start < notes.size();) {
    const size_t end = notes.find('\n', start);
    log_info(notes.substr(start, end - start));
    start = end + 1;
  }
  config = apply_given_options(p.train, config);
  log_info(derived_line(config));
  const std::string out = p.out.empty() ? default_out(p.folder) : p.out;
  if (p.overwrite) remove_previous_run(out);
  DistEnv single;
  Trainer trainer(config, out, single);
  const double report_expected = keep_report_time(trainer, config, survey.images);
  StopSignals signals(trainer.stop_flag());
  const TrainResult result = trainer.run();
  if (result.status == TrainResult::Status::kInterrupted) {
    return report_train_result(result, out, 0);
  }
  return finish(p, out, result, report_expected);
}

}  // namespace

CommandRunner register_cluster(CLI::App& app) {
  auto p = std::make_shared<ClusterParams>();
  CLI::App* cmd = app.add_subcommand(
      "cluster",
      "cluster a folder of images in one command: settings derived from the images, training "
      "within --minutes, then predictions, one folder per cluster and the report");
  cmd->add_option("folder", p->folder,
                  "the images: a flat folder, or FOLDER/<class>/<image> when labels exist "
                  "(then scores are printed)")
      ->required();
  cmd->add_option("--minutes", p->minutes, "minutes in all: training, evaluations, final scoring")
      ->capture_default_str();
  cmd->add_option("--k", p->k,
                  "number of clusters, or auto: estimated in --k-range (default 2-30) by the "
                  "stability of k-means on the trained features")
      ->capture_default_str();
  cmd->add_option("--out", p->out, "run folder (default: runs/<folder name>)");
  cmd->add_flag("--overwrite", p->overwrite, "replace a previous run in --out");
  cmd->add_flag("--copy", p->copy, "copy the images into the cluster folders instead of linking");
  add_config_options(cmd, &p->train);
  add_runtime_options(cmd, &p->train.runtime);
  return [p] { return run_cluster(*p); };
}

}  // namespace dcacn::cli
