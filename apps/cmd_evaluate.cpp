// dcacn evaluate: scores of a trained model on a labelled dataset, with the confusion matrix
// after Hungarian matching, per-cluster sizes and purity.

#include <iostream>

#include "commands.h"
#include "common.h"
#include "dcacn/metrics/cluster_analysis.h"
#include "dcacn/util/error.h"
#include "dcacn/util/log.h"
#include "model_common.h"

namespace dcacn::cli {
namespace {

struct EvaluateParams {
  ModelChoice model;
  DataChoice data;
  bool json = false;
  RuntimeOptions runtime;
};

int run_evaluate(EvaluateParams& p) {
  apply_runtime_options(p.runtime);
  const TrainedModel model = load_model(p.model);
  const Dataset data = load_data_for_model(model, p.data);
  InferenceOptions o = inference_options(model, p.model);
  o.features = o.embeddings = false;
  o.progress = p.runtime.quiet ? "" : "evaluating";
  const ModelOutputs out = model.run(data.images, o);
  const ClusterAnalysis a =
      analyze_clusters(out.probabilities.argmax(1), model.clusters(), data.labels);
  if (!a.has_labels) {
    log_warning(data.name + " has no labels: only cluster sizes are reported");
  }
  if (p.json) {
    nlohmann::json j = a.to_json(data.class_names);
    j["checkpoint"] = model.checkpoint;
    j["epoch"] = model.epoch;
    j["step"] = model.step;
    j["dataset"] = data.name;
    std::cout << j.dump(2) << '\n';
  } else {
    std::cout << "checkpoint " << model.checkpoint << " (epoch " << model.epoch << ", step "
              << model.step << ") on " << data.name << ", " << a.samples << " images\n"
              << a.to_text(data.class_names);
  }
  return 0;
}

}  // namespace

CommandRunner register_evaluate(CLI::App& app) {
  auto p = std::make_shared<EvaluateParams>();
  CLI::App* cmd = app.add_subcommand(
      "evaluate", "ACC/NMI/ARI, confusion matrix, cluster sizes and purity of a trained model");
  add_model_options(cmd, &p->model);
  add_data_options(cmd, &p->data);
  cmd->add_flag("--json", p->json, "print the results as JSON");
  add_runtime_options(cmd, &p->runtime);
  return [p] { return run_evaluate(*p); };
}

}  // namespace dcacn::cli
