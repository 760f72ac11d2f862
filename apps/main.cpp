// dcacn: unsupervised image clustering (DCACN) — command-line front end.

#include <CLI/CLI.hpp>
#include <map>

#include "commands.h"
#include "common.h"
#include "dcacn/util/allocator.h"

int main(int argc, char** argv) {
  dcacn::tune_allocator();  // before the first tensor (util/allocator.h)
  dcacn::cli::set_program_arguments(argc, argv);
  CLI::App app{"dcacn: deep clustering of unlabelled images (DCACN) and baselines"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "dcacn 0.1.0");
  std::map<std::string, dcacn::cli::CommandRunner> runners;
  runners["kmeans"] = dcacn::cli::register_kmeans(app);
  runners["score"] = dcacn::cli::register_score(app);
  runners["model-info"] = dcacn::cli::register_model_info(app);
  runners["augment-preview"] = dcacn::cli::register_augment_preview(app);
  runners["cluster"] = dcacn::cli::register_cluster(app);
  runners["train"] = dcacn::cli::register_train(app);
  runners["evaluate"] = dcacn::cli::register_evaluate(app);
  runners["predict"] = dcacn::cli::register_predict(app);
  runners["embed"] = dcacn::cli::register_embed(app);
  runners["report"] = dcacn::cli::register_report(app);
  runners["serve"] = dcacn::cli::register_serve(app);
  runners["export"] = dcacn::cli::register_export(app);
  CLI11_PARSE(app, argc, argv);
  for (const auto* sub : app.get_subcommands()) {
    return dcacn::cli::run_guarded(runners.at(sub->get_name()));
  }
  return 1;
}
