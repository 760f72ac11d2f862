#include "dcacn/train/trainer.h"

#include <filesystem>

#include "dcacn/model/pretrained.h"
#include "dcacn/model/state_dict.h"
#include "dcacn/run/setup.h"
#include "dcacn/train/pipeline.h"
#include "dcacn/train/precision.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/log.h"

namespace dcacn {
namespace {

// The pipeline a checkpoint was written in: recorded (version 4) or described by its
// configuration (versions 1-3).
Pipeline checkpoint_pipeline(const Checkpoint& ck) {
  if (ck.pipeline.empty()) return build_pipeline(ck.config);
  TrainConfig c = ck.config;
  c.stages = ck.pipeline;
  return build_pipeline(c);
}

// "a larger --epochs, --max-steps or --time-budget": how to give a stage more budget.
std::string how_to_extend(const TrainConfig& c, const Stage& stage) {
  if (!c.stages.empty()) return "a larger budget for it in --stages, or a stage after it";
  return stage.kind() == StageKind::kSelfLabel ? "a larger --selflabel-steps or --selflabel-minutes"
                                               : "a larger --epochs, --max-steps or --time-budget";
}

// Stages that have begun keep their settings; the in-progress one may get more budget, and
// stages may be appended.
void check_same_begun_stages(const Pipeline& was, const Pipeline& now, int64_t begun,
                             int64_t start_step, const std::string& run_dir) {
  for (int64_t i = 0; i < begun; ++i) {
    DCACN_CHECK(i < static_cast<int64_t>(now.size()), "cannot resume ", run_dir, ": its stage ",
                i + 1, " (", was[i]->describe(), ") has begun and cannot be left out");
    const std::string a = stage_settings(*was[i]), b = stage_settings(*now[i]);
    DCACN_CHECK(a == b, "cannot resume ", run_dir, " with stage ", i + 1, " as '", b,
                "': it began as '", a, "'",
                was[i]->kind() == StageKind::kSelfLabel && i + 1 == begun
                    ? c10::str(" (its self-labelling stage began at step ", start_step, ")")
                    : "",
                ", and a stage's settings are fixed once it begins (its budget may change, and "
                "stages may be appended)");
  }
}

}  // namespace

Trainer::Trainer(const TrainConfig& config, const std::string& run_dir, const DistEnv& dist)
    : config_(config), run_dir_(run_dir), dist_(dist) {
  DCACN_CHECK(!run_dir.empty(), "training needs an output folder (--out RUN_DIR)");
  // Rank 0 owns the run directory (and may be replacing an earlier run in it right now).
  DCACN_CHECK(dist_.rank != 0 || !is_file(checkpoint_path("last")), run_dir,
              " already holds a run (checkpoints/last.pt); continue it with --resume ", run_dir,
              " or choose another --out");
  config_.validate();
  build_pipeline(config_);              // the --stages text is checked before anything is written
  if (!config_.init_weights.empty()) {  // and so is the file the backbone starts from
    check_torchvision_resnet(read_state_dict(config_.init_weights), config_.depth, config_.width,
                             config_.init_weights);
  }
  stop_ = std::make_unique<StopPolicy>();
}

Trainer::Trainer(const std::string& run_dir, const ResumeOverrides& overrides, const DistEnv& dist)
    : run_dir_(run_dir), dist_(dist) {
  const std::string last = checkpoint_path("last");
  DCACN_CHECK(is_file(last), "cannot resume ", run_dir, ": ", last, " not found");
  restored_ = std::make_unique<Checkpoint>(load_checkpoint(last));
  const Checkpoint& ck = *restored_;
  const Pipeline was = checkpoint_pipeline(ck);
  config_ = ck.config;
  overrides.apply(config_);
  config_.validate();
  const Pipeline now = build_pipeline(config_);
  const TrainState at = restored_state(ck, last);
  check_same_begun_stages(was, now, at.stage_index + (at.stage_started ? 1 : 0),
                          at.stage_start_step, run_dir);
  stop_ = std::make_unique<StopPolicy>();
  DCACN_CHECK(at.stage_index < static_cast<int64_t>(now.size()), "the run in ", run_dir,
              " has done every stage of its pipeline (", pipeline_text(now), ") at step ", ck.step,
              "; append a stage to train further (e.g. --stages ", pipeline_text(now),
              ",selflabel:minutes=5)");
  const Stage& stage = *now[at.stage_index];
  const bool later = at.stage_index + 1 < static_cast<int64_t>(now.size());
  if (!at.stage_started || !stage.stepwise() || later) return;
  const int64_t epochs = stage.budget().epochs();
  const bool epochs_done = epochs > 0 && ck.epoch >= at.stage_start_epoch + epochs;
  const StopPolicy::Reason reason = StopPolicy::budget_reached(
      stage.budget(), ck.step - at.stage_start_step, ck.train_seconds - at.stage_start_seconds);
  DCACN_CHECK(
      !epochs_done && reason == StopPolicy::Reason::kNone, "the run in ", run_dir, " has already ",
      epochs_done ? c10::str("trained its ", epochs, " epochs")
                  : c10::str("reached its ", stage_kind_name(stage.kind()), " stage's ",
                             StopPolicy::budget_name(stage.budget(), reason)),
      " (step ", ck.step, "); to continue it, give --resume ", how_to_extend(config_, stage));
}

Trainer::~Trainer() = default;

std::string Trainer::checkpoint_path(const std::string& name) const {
  return run_dir_ + "/checkpoints/" + name + ".pt";
}

void Trainer::set_distributed(const DistEnv& env, const CommunicatorOptions& options) {
  dist_ = env;
  comm_options_ = options;
}

TrainResult Trainer::run() {
  if (restored_ == nullptr && config_.precision_auto && config_.precision_measured.empty()) {
    if (dist_.distributed()) {
      // The ranks would have to agree on one choice before they can talk: kept as set.
      log_info(c10::str("--precision auto is not measured in a data-parallel run: ",
                        config_.bf16 ? "bf16" : "fp32", " as set (--precision bf16|fp32)"));
    } else {
      const PrecisionChoice p = measure_precision(config_, pick_device(config_.device));
      config_.bf16 = p.bf16;
      config_.precision_measured = p.summary();
      log_info("precision (--precision auto), training steps timed on this machine: " +
               p.summary());
    }
  }
  if (dist_.rank == 0) {
    std::filesystem::create_directories(run_dir_ + "/checkpoints");
    write_file_atomic(run_dir_ + "/config.json", config_.to_json().dump(2) + "\n");
  }
  TrainingSession session(config_, run_dir_, restored_.get(), *stop_, dist_, comm_options_);
  session.count_time_from(created_);
  restored_.reset();  // the session holds what it needs; the weights need not stay twice
  return session.run();
}

}  // namespace dcacn
