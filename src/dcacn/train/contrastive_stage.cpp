#include "dcacn/train/contrastive_stage.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>

#include "dcacn/dist/communicator.h"
#include "dcacn/run/setup.h"
#include "dcacn/train/pipeline.h"
#include "dcacn/train/scan_stage.h"
#include "dcacn/util/error.h"
#include "dcacn/util/log.h"
#include "dcacn/util/progress.h"

namespace dcacn {

ContrastiveStageOptions contrastive_options(StageSettings& s, const TrainConfig& c) {
  ContrastiveStageOptions o;
  o.budget(s.budget());
  o.lr(s.number("lr", c.lr));
  o.schedule(parse_lr_schedule(s.text("schedule", c.lr_schedule), "--stages contrastive schedule"));
  o.neighbour_share(s.number("neighbours", o.neighbour_share()));
  o.space(parse_neighbour_space(s.text("space", "pixels"), "--stages contrastive space"));
  o.whiten(s.flag("whiten", o.whiten()));
  o.k(s.integer("k", c.neighbour_k));
  o.early_size(s.number("early_size", o.early_size()));
  o.early_share(s.number("early_share", o.early_share()));
  o.ema(s.number("ema", o.ema()));
  o.ema_window(s.number("ema_window", o.ema_window()));
  s.expect_all_used(
      "minutes, share, steps, epochs, lr, schedule, neighbours, space, whiten, k, early_size, "
      "early_share, ema, ema_window");
  DCACN_CHECK(o.lr() > 0, "--stages: contrastive lr must be positive, got ", o.lr());
  DCACN_CHECK(o.neighbour_share() >= 0 && o.neighbour_share() <= 1,
              "--stages: contrastive neighbours must be a share between 0 and 1, got ",
              o.neighbour_share());
  DCACN_CHECK(o.space() != NeighbourSpace::kAuto,
              "--stages: contrastive space must be pixels, features or both (auto is for "
              "neighbours stages)");
  DCACN_CHECK(o.k() >= 1, "--stages: contrastive k must be positive, got ", o.k());
  DCACN_CHECK(o.early_size() > 0 && o.early_size() <= 1,
              "--stages: contrastive early_size must be a fraction of the views' sides in (0, 1], "
              "got ",
              o.early_size());
  DCACN_CHECK(o.early_share() >= 0 && o.early_share() < 1,
              "--stages: contrastive early_share must be a share of the stage in [0, 1), got ",
              o.early_share());
  DCACN_CHECK(o.ema() == 0 || (o.ema() > 0 && o.ema() < 1),
              "--stages: contrastive ema must be a decay in (0, 1) (0: off), got ", o.ema());
  DCACN_CHECK(o.ema_window() > 0 && o.ema_window() <= 1,
              "--stages: contrastive ema_window must be a share of the steps in (0, 1], got ",
              o.ema_window());
  return o;
}

std::string ContrastiveStage::describe() const {
  std::string text = "contrastive" + budget_text(options_.budget()) +
                     ":lr=" + exact_number(options_.lr()) +
                     ":schedule=" + lr_schedule_name(options_.schedule());
  if (options_.neighbour_share() > 0) {
    text += ":neighbours=" + exact_number(options_.neighbour_share()) +
            ":space=" + neighbour_space_name(options_.space()) +
            ":whiten=" + (options_.whiten() ? "on" : "off") + ":k=" + std::to_string(options_.k());
  }
  if (options_.resizes()) {
    text += ":early_size=" + exact_number(options_.early_size()) +
            ":early_share=" + exact_number(options_.early_share());
  }
  if (options_.ema() > 0) {
    text += ":ema=" + exact_number(options_.ema()) +
            ":ema_window=" + exact_number(options_.ema_window());
  }
  return text;
}

double ContrastiveStage::fraction(StageContext& context) const {
  return budget_fraction(options_.budget(), context.steps_in_stage(), context.steps_per_epoch(),
                         context.seconds_in_stage());
}

bool ContrastiveStage::early_views(StageContext& context) {
  if (!options_.resizes()) return false;
  if (fraction(context) < options_.early_share()) return true;
  if (!full_size_logged_) {
    full_size_logged_ = true;
    log_info(c10::str("contrastive stage: views at full size from step ", context.steps_in_stage(),
                      " (", context.augment().spec().describe(), ")"));
  }
  return false;
}

void ContrastiveStage::begin(StageContext& context) {
  if (options_.resizes()) {
    log_info(c10::str("contrastive stage: progressive resizing, views at ",
                      context.augment().spec().scaled(options_.early_size()).describe(),
                      " for the first ", options_.early_share() * 100, "% of the stage"));
  }
  if (options_.neighbour_share() <= 0) return;
  neighbours_ = mine_neighbours(context, options_.space(), options_.k(), options_.whiten(),
                                "contrastive stage");
  log_info(c10::str("contrastive stage: for ", options_.neighbour_share() * 100,
                    "% of each batch the second global view is of one of the image's ",
                    neighbours_.size(1), " neighbours"));
}

namespace {

constexpr const char* kAveragePrefix = "average/";

}  // namespace

StageState ContrastiveStage::state() const {
  StageState state;
  if (neighbours_.defined()) state.emplace_back("neighbours", neighbours_);
  if (average_ != nullptr) average_->save(state, kAveragePrefix);
  if (!pending_.empty()) state.insert(state.end(), pending_.begin(), pending_.end());
  return state;
}

void ContrastiveStage::restore(const StageState& state, const std::string& source) {
  if (options_.ema() > 0) {
    pending_.clear();
    for (const auto& entry : state) {
      if (entry.first.rfind(kAveragePrefix, 0) == 0) pending_.push_back(entry);
    }
  }
  if (options_.neighbour_share() <= 0) return;
  for (const auto& [name, tensor] : state) {
    if (name == "neighbours") neighbours_ = tensor.to(torch::kInt64);
  }
  DCACN_CHECK(neighbours_.defined() && neighbours_.dim() == 2, source,
              " is inside a contrastive stage with neighbour views but holds no neighbours");
}

torch::Tensor draw_neighbour_rows(int64_t batch, double share, uint64_t seed, int64_t step) {
  at::Generator gen = at::detail::createCPUGenerator(seed * 2246822519ULL + 3266489917ULL +
                                                     static_cast<uint64_t>(step) * 668265263ULL);
  return torch::rand({batch}, gen, torch::TensorOptions().dtype(torch::kFloat64)).lt(share);
}

void ContrastiveStage::update_average(StageContext& context) {
  if (options_.ema() <= 0) return;
  if (average_ == nullptr)
    average_ = std::make_unique<WeightAverage>(options_.ema(), options_.ema_window());
  if (!pending_.empty()) {
    average_->restore(pending_, kAveragePrefix, context.device());
    pending_.clear();
  }
  // The weights after the previous step (this call's step has not been taken yet).
  const auto start = std::chrono::steady_clock::now();
  average_->update(*context.model());
  average_seconds_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

LossTerms ContrastiveStage::batch_losses(StageContext& context, const torch::Tensor& images,
                                         const torch::Tensor& index) {
  update_average(context);
  MultiCropAugmenter& augment = context.augment();
  const MultiCropSpec spec =
      early_views(context) ? augment.spec().scaled(options_.early_size()) : augment.spec();
  std::vector<torch::Tensor> views = augment(images, spec);
  if (options_.neighbour_share() <= 0) return context.step().losses(views);
  DCACN_CHECK(neighbours_.defined(), "contrastive stage: no neighbours (the stage did not begin)");
  DCACN_CHECK(spec.global.size() >= 2,
              "contrastive stage: neighbour views need two global views, the views have ",
              spec.global.size());
  const int64_t step = context.network_version();
  torch::Tensor partners = draw_partners(neighbours_, index, context.seed(), step);
  torch::Tensor rows =
      draw_neighbour_rows(index.size(0), options_.neighbour_share(), context.seed(), step);
  if (context.comm() != nullptr) {
    partners = rank_shard(partners, context.comm()->rank(), context.comm()->size());
    rows = rank_shard(rows, context.comm()->rank(), context.comm()->size());
  }
  const torch::Tensor chosen = rows.nonzero().squeeze(1);
  if (chosen.numel() == 0) return context.step().losses(views);
  const torch::Tensor others = to_device(
      context.images().images.index_select(0, partners.index_select(0, chosen)), context.device());
  const torch::Tensor seen = augment.view(others.to(torch::kFloat32).div_(255.0f), spec.global[1]);
  views[1] = views[1].index_copy(0, chosen.to(views[1].device()), seen.to(views[1].dtype()));
  return context.step().losses(views);
}

double ContrastiveStage::learning_rate(StageContext& context) const {
  return scheduled_lr(options_.lr(), options_.schedule(), fraction(context));
}

bool ContrastiveStage::end(StageContext& context) {
  // A run resumed from the checkpoint written after the average was taken has none left.
  if (options_.ema() <= 0 || (pending_.empty() && (average_ == nullptr || !average_->started())))
    return false;
  update_average(context);  // the last step's weights
  const int64_t updates = average_->updates();
  average_->take(*context.model());
  context.share_statistics();
  log_info(c10::str("contrastive stage: the average of the weights over ", updates,
                    " steps takes the network's place (largest decay ",
                    exact_number(options_.ema()), "; its updates took ", fixed(average_seconds_, 1),
                    " s in this process)"));
  return true;
}

}  // namespace dcacn
