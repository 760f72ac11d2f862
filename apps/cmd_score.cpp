// dcacn score: ACC / NMI / ARI of a predictions CSV.

#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"
#include "dcacn/io/predictions.h"
#include "dcacn/metrics/metrics.h"
#include "dcacn/util/error.h"

namespace dcacn::cli {
namespace {

struct ScoreParams {
  std::string predictions;  // CSV with cluster and label columns
  bool json = false;        // machine-readable output with full precision
};

int run_score(const ScoreParams& params) {
  const Predictions preds = read_predictions_csv(params.predictions);
  DCACN_CHECK(preds.has_labels, params.predictions,
              " has no 'label' column: scoring needs the true label of each row");
  DCACN_CHECK(!preds.cluster.empty(), params.predictions, " has no rows to score");
  const ClusteringScores s = score_clustering(preds.label, preds.cluster);
  if (params.json) {
    nlohmann::json out = {{"acc", s.acc},         {"nmi", s.nmi},         {"ari", s.ari},
                          {"samples", s.samples}, {"classes", s.classes}, {"clusters", s.clusters}};
    std::cout << out.dump(2) << '\n';
  } else {
    std::cout << format_scores(s) << "  (" << s.samples << " samples, " << s.classes << " classes, "
              << s.clusters << " clusters)\n";
  }
  return 0;
}

}  // namespace

CommandRunner register_score(CLI::App& app) {
  auto params = std::make_shared<ScoreParams>();
  CLI::App* cmd = app.add_subcommand("score", "ACC, NMI and ARI of a predictions CSV");
  cmd->add_option("--predictions", params->predictions,
                  "CSV with header index,cluster,label (as written by --out)")
      ->required();
  cmd->add_flag("--json", params->json, "print the scores as JSON");
  return [params] { return run_score(*params); };
}

}  // namespace dcacn::cli
