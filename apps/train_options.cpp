#include "train_options.h"

#include <filesystem>
#include <iostream>

#include "dcacn/train/pipeline.h"
#include "dcacn/util/error.h"
#include "dcacn/util/log.h"
#include "dcacn/util/progress.h"

namespace dcacn::cli {
namespace {

int64_t parse_keep(const std::string& text) {
  if (text == "none") return 0;
  try {
    size_t used = 0;
    const long long n = std::stoll(text, &used);
    if (used == text.size() && n >= 1) return n;
  } catch (const std::exception&) {
  }
  throw InputError("--keep-epoch-checkpoints must be none or a number of epochs >= 1, got '" +
                   text + "'");
}

std::string show_keep(int64_t every) { return every == 0 ? "none" : std::to_string(every); }

// The pipeline when a preset has one (config.stages) or --stages gives one:
// - --stages given: every stage's budget is in it (or a share of --time-budget, the whole
//   run's); the budgets of the flags that describe a pipeline go, unless given on this command
//   line too (then validate() says they cannot go together).
// - the preset's pipeline and flags of earlier versions that describe another (--max-steps,
//   --epochs, --selflabel-minutes/-steps, --neighbours off): the flags describe the pipeline, as
//   they did before presets had one (--time-budget is then the contrastive stage's).
void settle_pipeline(const TrainParams& p, TrainConfig& c) {
  if (c.stages.empty()) return;
  if (!given(p, "--stages")) {
    const bool legacy = given(p, "--max-steps") || given(p, "--epochs") ||
                        given(p, "--selflabel-minutes") || given(p, "--selflabel-steps") ||
                        (given(p, "--neighbours") && c.neighbour_space == "off");
    if (legacy) {
      c.stages.clear();
      log_info("the flags describe the pipeline: " + legacy_pipeline_text(c) + " (not --preset " +
               c.preset + "'s)");
    }
    return;
  }
  if (!given(p, "--max-steps")) c.max_steps = 0;
  if (!given(p, "--selflabel-minutes")) c.selflabel_minutes = 0;
  if (!given(p, "--selflabel-steps")) c.selflabel_steps = 0;
}

// The options of the configuration's fields, each with how it copies its value onto a
// configuration and shows a configuration's value as its default (a preset's values once
// --preset is parsed). Used inside the add_*_options functions below, which define `add`,
// `resumable`, `c` and `cmd`.
#define DCACN_FIELD(flag, field, help)                                         \
  add(                                                                         \
      cmd->add_option(flag, c.field, help),                                    \
      [](TrainConfig& to, const TrainConfig& from) { to.field = from.field; }, \
      [](const TrainConfig& s) { return c10::str(s.field); });
#define DCACN_RESUMABLE(flag, field, help) \
  DCACN_FIELD(flag, field, help)           \
  resumable([](ResumeOverrides& to, const TrainConfig& given) { to.field = given.field; });
#define DCACN_SWITCH(flag, field, help)                                        \
  add(                                                                         \
      cmd->add_flag(flag, c.field, help),                                      \
      [](TrainConfig& to, const TrainConfig& from) { to.field = from.field; }, \
      [](const TrainConfig& s) { return std::string(s.field ? "on" : "off"); });

// Data, network, views and losses: fixed for the life of a run.
void add_model_options(CLI::App* cmd, TrainParams* p) {
  TrainConfig& c = p->parsed;
  auto add = [&](CLI::Option* o, auto apply, auto show) {
    p->options.push_back({o, apply, show, nullptr});
  };
  DCACN_FIELD("--dataset", dataset, "fashion-mnist | mnist | cifar10 | cifar100 | stl10 | folder")
  DCACN_FIELD("--data", data_path, "dataset folder (fashion-mnist: Debian's by default)")
  DCACN_FIELD("--split", split, "train | test | all | unlabeled")
  DCACN_FIELD("--image-size", folder_image_size, "image folders: decoded size")
  DCACN_FIELD("--channels", channels, "image folders: 1 or 3 (0: 3)")
  DCACN_SWITCH("--squash", folder_squash,
               "image folders: resize whole images to squares instead of taking their central "
               "square")
  add(
      cmd->add_option("--arch", p->arch, "resnet18 | resnet34 | resnet50"),
      [p](TrainConfig& to, const TrainConfig&) { to.depth = parse_architecture(p->arch); },
      [](const TrainConfig& s) { return architecture_name(s.depth); });
  DCACN_FIELD("--width", width, "backbone base channels")
  DCACN_FIELD("--attention", attention, "cbam | none")
  DCACN_FIELD("--stem", stem, "auto | cifar | imagenet")
  DCACN_FIELD("--init-weights", init_weights,
              "a torchvision ResNet state dict (e.g. resnet34-b627a593.pth) the backbone starts "
              "from; CBAM and the heads start fresh (README)")
  DCACN_FIELD("--clusters", clusters,
              "number of clusters K (with --k-range: the training head's, until the neighbours "
              "stage)")
  DCACN_FIELD("--k-range", k_range,
              "A-B: estimate K in this range when the neighbours stage begins (--k-criterion; "
              "README); empty: K is --clusters")
  DCACN_FIELD("--k-criterion", k_criterion,
              "how --k-range estimates K: heads (agreement of neighbour heads trained at each K, "
              "less a Gaussian reference's) | stability (of k-means on the features, less the "
              "reference's)")
  DCACN_FIELD("--views", views,
              "COUNTxSIZE[@MIN-MAX][:key=value] groups, global first (see augment-preview; "
              "default: the dataset's)")
  DCACN_FIELD("--instance-loss", instance_loss, "decoupled | infonce")
  DCACN_FIELD("--tau-inst", instance_temperature, "instance temperature")
  DCACN_FIELD("--cluster-loss", cluster_loss, "decoupled | infonce")
  DCACN_FIELD("--cluster-reading", cluster_reading, "columns (CC) | rows (paper eq. 7)")
  DCACN_FIELD("--tau-clus", cluster_temperature, "cluster temperature")
  DCACN_FIELD("--lambda", cluster_weight, "weight of the cluster loss")
  DCACN_FIELD("--entropy-weight", entropy_weight, "weight of log K - H(mean assignment)")
  DCACN_FIELD("--lr", lr, "Adam learning rate")
  DCACN_FIELD("--lr-schedule", lr_schedule,
              "constant | cosine (decays to 0 over the epoch, step or time budget)")
  DCACN_FIELD("--weight-decay", weight_decay, "Adam weight decay")
  DCACN_FIELD("--batch-size", batch_size, "images per step")
}

// Optimisation, budgets and stages, the device and evaluation: many may change on resume.
void add_run_options(CLI::App* cmd, TrainParams* p) {
  TrainConfig& c = p->parsed;
  auto add = [&](CLI::Option* o, auto apply, auto show) {
    p->options.push_back({o, apply, show, nullptr});
  };
  // Marks the option added last as one that may change on resume.
  auto resumable = [&](std::function<void(ResumeOverrides&, const TrainConfig&)> resume) {
    p->options.back().resume = std::move(resume);
  };
  DCACN_RESUMABLE("--epochs", epochs, "epochs")
  DCACN_RESUMABLE("--time-budget", time_budget_minutes,
                  "minutes of wall time, over all the run's sessions (0: no limit); with a "
                  "pipeline (--stages, or a preset's) the whole run's: loading, every stage, its "
                  "evaluations and the final scoring; without, the contrastive stage's")
  DCACN_RESUMABLE("--max-steps", max_steps,
                  "stop after this many optimiser steps in all (0: no limit)")
  DCACN_RESUMABLE("--device", device, "auto | cpu | cuda")
  DCACN_FIELD("--seed", seed, "random seed")
  DCACN_RESUMABLE("--selflabel-minutes", selflabel_minutes,
                  "self-labelling stage after the contrastive one: its time budget (0: none)")
  DCACN_RESUMABLE("--selflabel-steps", selflabel_steps,
                  "self-labelling stage: its step budget (0: none)")
  DCACN_RESUMABLE("--selflabel-lr", selflabel_lr, "self-labelling stage: Adam learning rate")
  DCACN_RESUMABLE("--selflabel-threshold", selflabel_threshold,
                  "self-labelling stage: smallest cluster probability of a pseudo-label")
  DCACN_RESUMABLE("--selflabel-quota", selflabel_quota,
                  "self-labelling stage: at most this fraction of B/K pseudo-labels per cluster "
                  "and batch (its most confident)")
  DCACN_RESUMABLE("--selflabel-ce-weight", selflabel_ce_weight,
                  "self-labelling stage: weight of the pseudo-label cross-entropy")
  DCACN_RESUMABLE("--selflabel-instance-weight", selflabel_instance_weight,
                  "self-labelling stage: weight of the instance loss")
  DCACN_RESUMABLE("--selflabel-entropy-weight", selflabel_entropy_weight,
                  "self-labelling stage: weight of log K - H(mean assignment)")
  DCACN_RESUMABLE("--neighbours", neighbour_space,
                  "without --stages: a neighbour stage at the end (SCAN's clustering step on the "
                  "frozen features): off | pixels | features | both | auto, where each image's "
                  "nearest neighbours are mined (auto: all three tried, the one whose clusters "
                  "the other spaces' neighbours support best kept); with --stages: the space of "
                  "its neighbours stages")
  DCACN_RESUMABLE("--neighbour-k", neighbour_k, "neighbour stage: neighbours per image")
  DCACN_RESUMABLE("--neighbour-heads", neighbour_heads,
                  "neighbour stage: cluster heads trained; the one that agrees most with the "
                  "others is kept (keep=loss in --stages: the lowest-loss one)")
  DCACN_RESUMABLE("--neighbour-epochs", neighbour_epochs, "neighbour stage: passes over all images")
  DCACN_RESUMABLE("--neighbour-lr", neighbour_lr, "neighbour stage: Adam learning rate")
  DCACN_RESUMABLE("--neighbour-entropy-weight", neighbour_entropy_weight,
                  "neighbour stage: weight of the entropy of the mean assignment")
  DCACN_RESUMABLE("--stages", stages,
                  "the run's stages in order, e.g. contrastive:20m,neighbours,scan:5m; each "
                  "KIND[:key=value...] (contrastive, neighbours, scan, selflabel), budgets "
                  "minutes=/Nm, share= (of --time-budget, then the whole run's), steps=, epochs= "
                  "(README); "
                  "without it: contrastive (--epochs, --time-budget, --max-steps), then "
                  "self-labelling and the neighbour stage when their flags are set")
  p->options.back().show = [](const TrainConfig& s) {
    return s.stages.empty() ? legacy_pipeline_text(s) : s.stages;
  };
  DCACN_SWITCH("--bf16,!--no-bf16", bf16, "bf16 autocast")
  add(
      cmd->add_option("--precision", p->precision,
                      "auto (a new run times training steps in fp32 and bf16 and keeps the "
                      "faster; the CPU presets') | bf16 | fp32"),
      [p](TrainConfig& to, const TrainConfig&) {
        DCACN_CHECK(p->precision == "auto" || p->precision == "bf16" || p->precision == "fp32",
                    "--precision must be auto, bf16 or fp32, got '", p->precision, "'");
        to.precision_auto = p->precision == "auto";
        if (!to.precision_auto) to.bf16 = p->precision == "bf16";
      },
      [](const TrainConfig& s) {
        return std::string(s.precision_auto ? "auto" : s.bf16 ? "bf16" : "fp32");
      });
  DCACN_SWITCH("--channels-last,!--no-channels-last", channels_last, "NHWC layout")
  DCACN_RESUMABLE("--eval-every", eval_every, "epochs between evaluations and checkpoints")
  DCACN_RESUMABLE("--eval-every-minutes", eval_every_minutes,
                  "minutes between evaluations and checkpoints, instead of --eval-every (0: off)")
  DCACN_RESUMABLE("--eval-images", eval_images,
                  "images the periodic evaluations score, a fixed sample (a stage's end and the "
                  "final score use all; 0: all)")
  DCACN_RESUMABLE("--eval-batch-size", eval_batch_size, "images per evaluation batch")
  add(
      cmd->add_option("--keep-epoch-checkpoints", p->keep_epoch_checkpoints,
                      "none | N: also keep checkpoints/epoch_NNNN.pt every N epochs (last.pt "
                      "and best.pt are always kept)"),
      [p](TrainConfig& to, const TrainConfig&) {
        to.keep_epoch_checkpoints = parse_keep(p->keep_epoch_checkpoints);
      },
      [](const TrainConfig& s) { return show_keep(s.keep_epoch_checkpoints); });
  resumable([](ResumeOverrides& to, const TrainConfig& given) {
    to.keep_epoch_checkpoints = given.keep_epoch_checkpoints;
  });
}
#undef DCACN_FIELD
#undef DCACN_RESUMABLE
#undef DCACN_SWITCH

}  // namespace

void add_config_options(CLI::App* cmd, TrainParams* p) {
  add_model_options(cmd, p);
  add_run_options(cmd, p);
}

void show_defaults(TrainParams* p, const TrainConfig& shown) {
  for (auto& opt : p->options) opt.option->default_str(opt.show(shown));
}

TrainConfig apply_given_options(const TrainParams& p, TrainConfig config) {
  for (const auto& opt : p.options) {
    if (opt.option->count() > 0) opt.apply(config, p.parsed);
  }
  settle_pipeline(p, config);
  return config;
}

bool given(const TrainParams& p, const std::string& name) {
  for (const auto& opt : p.options) {
    if (opt.option->get_name() == name) return opt.option->count() > 0;
  }
  return false;
}

void remove_previous_run(const std::string& out) {
  if (!std::filesystem::exists(out)) return;
  // Only a folder that holds a dcacn run is removed, never an arbitrary one.
  const bool is_run = std::filesystem::exists(out + "/config.json") ||
                      std::filesystem::exists(out + "/checkpoints/last.pt");
  DCACN_CHECK(is_run, "--overwrite: ", out,
              " exists but does not hold a dcacn run (no config.json); not removing it");
  std::filesystem::remove_all(out);
  log_info("removed the previous run in " + out);
}

int report_train_result(const TrainResult& r, const std::string& dir, int rank) {
  if (rank > 0) return r.status == TrainResult::Status::kInterrupted ? 130 : 0;
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

}  // namespace dcacn::cli
