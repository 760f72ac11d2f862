// dcacn train: DCACN training (see src/dcacn/train/trainer.h for what a run directory holds).

#include <filesystem>
#include <iostream>

#include "commands.h"
#include "common.h"
#include "dcacn/train/trainer.h"
#include "dcacn/util/error.h"
#include "dcacn/util/log.h"
#include "dcacn/util/progress.h"

namespace dcacn::cli {
namespace {

struct TrainParams {
  std::string preset;      // start from a preset, then apply the options given
  std::string out;         // run directory
  std::string resume;      // continue the run in this directory
  bool overwrite = false;  // replace a previous run in --out
  TrainConfig config;      // parsed values of the options
  RuntimeOptions runtime;
  // Options the user gave explicitly, applied on top of the preset.
  std::vector<std::pair<CLI::Option*, std::function<void(TrainConfig&, const TrainConfig&)>>> set;
};

int run_train(TrainParams& p) {
  apply_runtime_options(p.runtime);
  TrainConfig config = p.preset.empty() ? TrainConfig() : preset(p.preset);
  for (const auto& [option, apply] : p.set) {
    if (option->count() > 0) apply(config, p.config);
  }
  const bool resume = !p.resume.empty();
  DCACN_CHECK(resume || !p.out.empty(), "give --out RUN_DIR for a new run or --resume RUN_DIR");
  DCACN_CHECK(!(resume && !p.out.empty()), "give either --out or --resume, not both");
  DCACN_CHECK(!(resume && p.overwrite), "--overwrite replaces a run; it cannot go with --resume");
  if (p.overwrite && std::filesystem::exists(p.out)) {
    // Only a folder that holds a dcacn run is removed, never an arbitrary one.
    const bool is_run = std::filesystem::exists(p.out + "/config.json") ||
                        std::filesystem::exists(p.out + "/checkpoints/last.pt");
    DCACN_CHECK(is_run, "--overwrite: ", p.out,
                " exists but does not hold a dcacn run (no config.json); not removing it");
    std::filesystem::remove_all(p.out);
    log_info("removed the previous run in " + p.out);
  }
  Trainer trainer(config, resume ? p.resume : p.out, resume);
  const TrainResult r = trainer.run();
  const std::string dir = resume ? p.resume : p.out;
  switch (r.status) {
    case TrainResult::Status::kInterrupted:
      std::cout << "interrupted after " << r.step << " steps (" << format_duration(r.train_seconds)
                << "); continue with: dcacn train --resume " << dir << '\n';
      return 130;
    case TrainResult::Status::kBudgetReached:
    case TrainResult::Status::kFinished:
      std::cout << (r.status == TrainResult::Status::kFinished ? "finished" : "budget reached")
                << ": " << r.step << " steps in " << format_duration(r.train_seconds) << ", run in "
                << dir << '\n';
      if (r.last_eval.has_labels) std::cout << format_scores(r.last_eval.scores) << '\n';
      return 0;
  }
  return 0;
}

}  // namespace

CommandRunner register_train(CLI::App& app) {
  auto p = std::make_shared<TrainParams>();
  CLI::App* cmd = app.add_subcommand("train", "train DCACN; writes config, metrics and checkpoints");
  cmd->add_option("--preset", p->preset,
                  "fmnist-cpu | paper-cifar10 | paper-stl10 | paper-imagenet10 (options given "
                  "with it override its values)");
  cmd->add_option("--out", p->out, "run directory (config.json, metrics.csv, checkpoints/)");
  cmd->add_option("--resume", p->resume,
                  "continue the run in this directory (only --epochs, --time-budget, --max-steps "
                  "and --device may change)");
  cmd->add_flag("--overwrite", p->overwrite, "replace a previous run in --out");
  TrainConfig& c = p->config;
  const TrainConfig d;
  // Each option writes into p->config when parsed; its applier copies it onto the preset.
#define DCACN_TRAIN_OPTION(flag, field, help)                                                  \
  p->set.emplace_back(cmd->add_option(flag, c.field, help)->default_str(c10::str(d.field)), \
                      [](TrainConfig& to, const TrainConfig& from) { to.field = from.field; });
  DCACN_TRAIN_OPTION("--dataset", dataset, "fashion-mnist | mnist | cifar10 | cifar100 | stl10 | folder")
  DCACN_TRAIN_OPTION("--data", data_path, "dataset folder (fashion-mnist: Debian's by default)")
  DCACN_TRAIN_OPTION("--split", split, "train | test | all | unlabeled")
  DCACN_TRAIN_OPTION("--image-size", folder_image_size, "image folders: decoded size")
  DCACN_TRAIN_OPTION("--depth", depth, "ResNet depth: 18, 34 or 50")
  DCACN_TRAIN_OPTION("--width", width, "backbone base channels")
  DCACN_TRAIN_OPTION("--attention", attention, "cbam | none")
  DCACN_TRAIN_OPTION("--stem", stem, "auto | cifar | imagenet")
  DCACN_TRAIN_OPTION("--clusters", clusters, "number of clusters K")
  DCACN_TRAIN_OPTION("--views", views, "COUNTxSIZE[@MIN-MAX][:key=value] groups, global first (see augment-preview; default: the dataset's)")
  DCACN_TRAIN_OPTION("--instance-loss", instance_loss, "decoupled | infonce")
  DCACN_TRAIN_OPTION("--tau-inst", instance_temperature, "instance temperature")
  DCACN_TRAIN_OPTION("--cluster-loss", cluster_loss, "decoupled | infonce")
  DCACN_TRAIN_OPTION("--cluster-reading", cluster_reading, "columns (CC) | rows (paper eq. 7)")
  DCACN_TRAIN_OPTION("--tau-clus", cluster_temperature, "cluster temperature")
  DCACN_TRAIN_OPTION("--lambda", cluster_weight, "weight of the cluster loss")
  DCACN_TRAIN_OPTION("--entropy-weight", entropy_weight, "weight of log K - H(mean assignment)")
  DCACN_TRAIN_OPTION("--lr", lr, "Adam learning rate")
  DCACN_TRAIN_OPTION("--lr-schedule", lr_schedule,
                     "constant | cosine (decays to 0 over the epoch, step or time budget)")
  DCACN_TRAIN_OPTION("--weight-decay", weight_decay, "Adam weight decay")
  DCACN_TRAIN_OPTION("--batch-size", batch_size, "images per step")
  DCACN_TRAIN_OPTION("--epochs", epochs, "epochs")
  DCACN_TRAIN_OPTION("--time-budget", time_budget_minutes, "stop after this many minutes (0: no limit)")
  DCACN_TRAIN_OPTION("--max-steps", max_steps, "stop after this many optimiser steps (0: no limit)")
  DCACN_TRAIN_OPTION("--seed", seed, "random seed")
  DCACN_TRAIN_OPTION("--bf16", bf16, "bf16 autocast (true/false)")
  DCACN_TRAIN_OPTION("--channels-last", channels_last, "NHWC layout (true/false)")
  DCACN_TRAIN_OPTION("--eval-every", eval_every, "epochs between evaluations and checkpoints")
  DCACN_TRAIN_OPTION("--eval-batch-size", eval_batch_size, "images per evaluation batch")
  DCACN_TRAIN_OPTION("--device", device, "auto | cpu | cuda")
#undef DCACN_TRAIN_OPTION
  add_runtime_options(cmd, &p->runtime);
  return [p] { return run_train(*p); };
}

}  // namespace dcacn::cli
