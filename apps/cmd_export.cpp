// dcacn export RUN: the run's curated clusters (RUN/curation.json, made by `dcacn serve`) as a
// CSV or as one folder per cluster. Replays the edits; the network is not run.

#include <filesystem>

#include "commands.h"
#include "common.h"
#include "dcacn/serve/server.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/log.h"
#include "model_common.h"

namespace dcacn::cli {
namespace {

namespace fs = std::filesystem;

struct ExportParams {
  std::string run_dir;
  std::string csv;
  std::string folders;
  bool copy = false;
  RuntimeOptions runtime;
};

int run_export(ExportParams& p) {
  apply_runtime_options(p.runtime);
  DCACN_CHECK(!p.csv.empty() || !p.folders.empty(), "give --csv FILE and/or --folders DIR");
  const std::string file = (fs::path(p.run_dir) / Curation::kFileName).string();
  DCACN_CHECK(is_file(file), file, " not found: `dcacn serve ", p.run_dir,
              "` writes it at the first edit");
  const Curation curation = Curation::load(file);
  ModelChoice choice;
  choice.checkpoint = p.run_dir;
  choice.device = "cpu";
  const TrainedModel model = load_model(choice);
  const Dataset data = load_data_for_model(model, {});
  DCACN_CHECK(data.size() == curation.images(), file, " holds ", curation.images(),
              " images; the run's dataset has ", data.size());
  const torch::Tensor clusters = torch::tensor(curation.assignment(), torch::kInt64);
  if (!p.csv.empty()) {
    write_file_atomic(p.csv, curation_csv(curation, data.labels, data.paths));
    log_info(c10::str("wrote ", p.csv, ": ", data.size(), " images in ",
                      curation.cluster_ids().size(), " clusters (", curation.version(),
                      " records applied)"));
  }
  if (!p.folders.empty()) {
    std::vector<std::string> folders;
    for (const std::string& name : curation.names()) folders.push_back(folder_name(name));
    group_into(p.folders, data.paths, clusters, curation.id_bound(), p.copy, folders,
               data.paths.empty() ? data.images : torch::Tensor());
    log_info("wrote " + p.folders +
             (data.paths.empty() ? " (PNG files: the dataset has no image files)"
              : p.copy           ? " (copies)"
                                 : " (links)"));
  }
  return 0;
}

}  // namespace

CommandRunner register_export(CLI::App& app) {
  auto p = std::make_shared<ExportParams>();
  CLI::App* cmd = app.add_subcommand(
      "export", "the clusters as corrected with `serve` (RUN/curation.json): CSV or folders");
  cmd->add_option("run_dir", p->run_dir, "the run's folder")->required();
  cmd->add_option("--csv", p->csv, "write index[,path][,label],cluster,name here");
  cmd->add_option("--folders", p->folders, "lay out one sub-folder per cluster here");
  cmd->add_flag("--copy", p->copy, "with --folders: copy the images instead of linking");
  add_runtime_options(cmd, &p->runtime);
  return [p] { return run_export(*p); };
}

}  // namespace dcacn::cli
