#pragma once
// The options of `dcacn train` that describe a run's configuration, shared with `dcacn cluster`
// (which derives a configuration from a folder and lets any of them override it).

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "common.h"
#include "dcacn/run/config.h"
#include "dcacn/train/trainer.h"

namespace dcacn::cli {

// One configuration option: how it copies its parsed value onto a configuration, and how it
// shows a configuration's value as the default in --help.
struct ConfigOption {
  CLI::Option* option;
  std::function<void(TrainConfig& to, const TrainConfig& parsed)> apply;
  std::function<std::string(const TrainConfig&)> show;
  /// Set for the options that may change on resume: copies the value given into overrides.
  std::function<void(ResumeOverrides& to, const TrainConfig& given)> resume;
};

struct TrainParams {
  std::string preset;      // start from a preset, then apply the options given
  std::string out;         // run directory
  std::string resume;      // continue the run in this directory
  bool overwrite = false;  // replace a previous run in --out
  TrainConfig parsed;      // parsed values of the options
  std::string arch = "resnet34";
  std::string precision;  // --precision auto | bf16 | fp32
  std::string keep_epoch_checkpoints = "none";
  RuntimeOptions runtime;
  std::vector<ConfigOption> options;
  // Data-parallel training (not part of the run: a resume may use another world size).
  int nproc = 1;
  double dist_timeout = 300;
  std::string dist_backend = "auto";
};

/// Adds the configuration's options (data, network, views, losses, budgets, stages, device,
/// evaluation) to `cmd`, parsed into p->parsed.
void add_config_options(CLI::App* cmd, TrainParams* p);

/// Shows `shown`'s values as the options' defaults in --help.
void show_defaults(TrainParams* p, const TrainConfig& shown);

/// Whether the option `name` (e.g. "--stages") was given on the command line.
bool given(const TrainParams& p, const std::string& name);

/// `config` with the options given on the command line applied on top, its pipeline settled.
TrainConfig apply_given_options(const TrainParams& p, TrainConfig config);

/// Removes the run in `out` (--overwrite); refuses a folder that does not hold a run.
void remove_previous_run(const std::string& out);

/// Prints how the run ended (rank 0) and returns the command's exit status.
int report_train_result(const TrainResult& r, const std::string& dir, int rank);

}  // namespace dcacn::cli
