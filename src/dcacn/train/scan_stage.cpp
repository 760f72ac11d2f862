#include "dcacn/train/scan_stage.h"

#include <ATen/CPUGeneratorImpl.h>

#include "dcacn/dist/communicator.h"
#include "dcacn/run/setup.h"
#include "dcacn/train/pipeline.h"
#include "dcacn/util/error.h"
#include "dcacn/util/log.h"

namespace dcacn {

ScanStageOptions scan_stage_options(StageSettings& s, const TrainConfig& c) {
  ScanStageOptions o;
  o.budget(s.budget());
  o.lr(s.number("lr", o.lr()));
  // auto is the neighbour stage's choice among spaces; a scan entry mines where it is told.
  const std::string space =
      c.neighbour_space == "off" || c.neighbour_space == "auto" ? "pixels" : c.neighbour_space;
  o.space(parse_neighbour_space(s.text("space", space), "--stages scan space"));
  o.whiten(s.flag("whiten", o.whiten()));
  o.k(s.integer("k", c.neighbour_k));
  o.entropy_weight(s.number("entropy", c.neighbour_entropy_weight));
  o.guard(s.flag("guard", false));
  s.expect_all_used("minutes, share, steps, epochs, lr, space, whiten, k, entropy, guard");
  DCACN_CHECK(o.space() != NeighbourSpace::kAuto,
              "--stages: scan space must be pixels, features or both (auto is for neighbours "
              "stages)");
  DCACN_CHECK(o.lr() > 0 && o.k() >= 1 && o.entropy_weight() >= 0,
              "--stages: scan lr and k must be positive and entropy non-negative, got ", o.lr(),
              ", ", o.k(), " and ", o.entropy_weight());
  return o;
}

std::string ScanStage::describe() const {
  return "scan" + budget_text(options_.budget()) + ":lr=" + exact_number(options_.lr()) +
         ":space=" + neighbour_space_name(options_.space()) +
         ":whiten=" + (options_.whiten() ? "on" : "off") + ":k=" + std::to_string(options_.k()) +
         ":entropy=" + exact_number(options_.entropy_weight()) +
         ":guard=" + (options_.guard() ? "on" : "off");
}

void ScanStage::begin(StageContext& context) {
  neighbours_ =
      mine_neighbours(context, options_.space(), options_.k(), options_.whiten(), "scan stage");
  log_info(c10::str("scan stage: backbone and cluster head trained so that each image and one of",
                    " its ", neighbours_.size(1), " neighbours share a cluster (lr ", options_.lr(),
                    ", entropy weight ", options_.entropy_weight(), ")"));
  if (options_.guard()) guard_.begin(context, neighbours_, "scan stage");
}

StageState ScanStage::state() const {
  StageState state{{"neighbours", neighbours_}};
  if (options_.guard()) guard_.save(state);
  return state;
}

bool ScanStage::end(StageContext& context) {
  return options_.guard() && guard_.end(context, "scan stage");
}

void ScanStage::restore(const StageState& state, const std::string& source) {
  for (const auto& [name, tensor] : state) {
    if (name == "neighbours") neighbours_ = tensor.to(torch::kInt64);
  }
  DCACN_CHECK(neighbours_.defined() && neighbours_.dim() == 2, source,
              " is inside a scan stage but holds no neighbours for it");
  if (options_.guard()) guard_.restore(state, source);
}

torch::Tensor draw_partners(const torch::Tensor& neighbours, const torch::Tensor& index,
                            uint64_t seed, int64_t step) {
  at::Generator gen = at::detail::createCPUGenerator(seed * 2654435761ULL + 7877ULL +
                                                     static_cast<uint64_t>(step) * 1000003ULL);
  const torch::Tensor anchors = index.to(torch::kCPU, torch::kInt64);
  const torch::Tensor pick = torch::randint(neighbours.size(1), {anchors.size(0), 1}, gen,
                                            torch::TensorOptions().dtype(torch::kInt64));
  return neighbours.index_select(0, anchors).gather(1, pick).squeeze(1);
}

LossTerms ScanStage::batch_losses(StageContext& context, const torch::Tensor& images,
                                  const torch::Tensor& index) {
  DCACN_CHECK(neighbours_.defined(), "scan stage: no neighbours (the stage did not begin)");
  torch::Tensor partners =
      draw_partners(neighbours_, index, context.seed(), context.network_version());
  if (context.comm() != nullptr) {
    partners = rank_shard(partners, context.comm()->rank(), context.comm()->size());
  }
  const torch::Tensor others =
      to_device(context.images().images.index_select(0, partners), context.device());
  const int64_t b = images.size(0);
  const torch::Tensor both = torch::cat({images, others}).to(torch::kFloat32).div_(255.0f);
  MultiCropAugmenter& augment = context.augment();
  const torch::Tensor views = augment.view(both, augment.spec().global.front());
  return context.step().neighbour_losses(views.slice(0, 0, b), views.slice(0, b),
                                         options_.entropy_weight());
}

}  // namespace dcacn
