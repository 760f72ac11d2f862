// dcacn report RUN_DIR: figures of a training run (see src/dcacn/report/report.h).

#include <iostream>

#include "commands.h"
#include "common.h"
#include "dcacn/report/report.h"
#include "dcacn/util/log.h"
#include "model_common.h"

namespace dcacn::cli {
namespace {

struct ReportParams {
  ReportOptions report;
  DataChoice data;
  RuntimeOptions runtime;
};

int run_report(ReportParams& p) {
  apply_runtime_options(p.runtime);
  p.report.data = p.data;
  p.report.progress = !p.runtime.quiet;
  const ReportResult r = make_report(p.report);
  log_info(c10::str("wrote ", r.files.size(), " figures"));
  std::cout << r.index << '\n';
  return 0;
}

}  // namespace

CommandRunner register_report(CLI::App& app) {
  auto p = std::make_shared<ReportParams>();
  CLI::App* cmd = app.add_subcommand(
      "report", "figures of a run (curves, t-SNE, montages, confusion, sizes) and an index.html");
  cmd->add_option("run_dir", p->report.run_dir, "the training run's directory")->required();
  cmd->add_option("--out", p->report.out_dir, "folder for the report (default: RUN_DIR/report)");
  cmd->add_option("--which", p->report.which, "checkpoint: last | best")->capture_default_str();
  cmd->add_option("--device", p->report.device, "auto | cpu | cuda")->capture_default_str();
  cmd->add_option("--tsne-samples", p->report.tsne_samples,
                  "images in the t-SNE (random subsample)")
      ->capture_default_str();
  cmd->add_option("--tsne-iterations", p->report.tsne_iterations, "t-SNE iterations")
      ->capture_default_str();
  cmd->add_option("--montage-images", p->report.montage_images, "images per cluster in the montage")
      ->capture_default_str();
  cmd->add_option("--seed", p->report.seed, "seed of the t-SNE subsample and start")
      ->capture_default_str();
  add_data_options(cmd, &p->data);
  add_runtime_options(cmd, &p->runtime);
  return [p] { return run_report(*p); };
}

}  // namespace dcacn::cli
