#include "dcacn/train/selflabel_stage.h"

#include "dcacn/augment/transforms.h"
#include "dcacn/train/pipeline.h"
#include "dcacn/util/error.h"
#include "dcacn/util/log.h"

namespace dcacn {

SelfLabelStageOptions self_label_stage_options(StageSettings& s, const TrainConfig& c) {
  SelfLabelStageOptions o;
  o.budget(s.budget());
  o.lr(s.number("lr", c.selflabel_lr));
  o.loss()
      .threshold(s.number("threshold", c.selflabel_threshold))
      .quota(s.number("quota", c.selflabel_quota))
      .ce_weight(s.number("ce", c.selflabel_ce_weight))
      .instance_weight(s.number("instance", c.selflabel_instance_weight))
      .entropy_weight(s.number("entropy", c.selflabel_entropy_weight));
  const std::string labels = s.text("labels", "online");
  DCACN_CHECK(labels == "online" || labels == "reliable",
              "--stages: selflabel labels must be online or reliable, got ", labels);
  o.reliable(labels == "reliable");
  o.agreement(s.number("agreement", o.agreement()));
  o.space(parse_neighbour_space(s.text("space", neighbour_space_name(o.space())),
                                "--stages selflabel space"));
  DCACN_CHECK(o.space() != NeighbourSpace::kAuto,
              "--stages: selflabel space must be pixels, features or both (auto is for "
              "neighbours stages)");
  o.whiten(s.flag("whiten", o.whiten()));
  o.k(s.integer("k", o.k()));
  o.guard(s.flag("guard", true));
  s.expect_all_used(
      "minutes, share, steps, epochs, lr, threshold, quota, ce, instance, entropy, labels, "
      "agreement, "
      "space, whiten, k, guard");
  DCACN_CHECK(0 <= o.agreement() && o.agreement() <= 1 && o.k() >= 1,
              "--stages: selflabel agreement is a share in [0, 1] and k positive, got ",
              o.agreement(), " and ", o.k());
  const SelfLabelOptions& l = o.loss();
  DCACN_CHECK(o.lr() > 0, "--stages: selflabel lr must be positive, got ", o.lr());
  DCACN_CHECK(0 <= l.threshold() && l.threshold() < 1,
              "--stages: selflabel threshold is a probability in [0, 1), got ", l.threshold());
  DCACN_CHECK(0 < l.quota() && l.quota() <= 1,
              "--stages: selflabel quota is a fraction of B / K in (0, 1], got ", l.quota());
  DCACN_CHECK(l.ce_weight() >= 0 && l.instance_weight() >= 0 &&
                  l.ce_weight() + l.instance_weight() > 0 && l.entropy_weight() >= 0,
              "--stages: selflabel weights must be non-negative, ce and instance not both 0");
  return o;
}

std::string SelfLabelStage::describe() const {
  const SelfLabelOptions& l = options_.loss();
  return "selflabel" + budget_text(options_.budget()) + ":lr=" + exact_number(options_.lr()) +
         ":threshold=" + exact_number(l.threshold()) + ":quota=" + exact_number(l.quota()) +
         ":ce=" + exact_number(l.ce_weight()) + ":instance=" + exact_number(l.instance_weight()) +
         ":entropy=" + exact_number(l.entropy_weight()) +
         (options_.reliable() ? ":labels=reliable:agreement=" + exact_number(options_.agreement()) +
                                    ":space=" + neighbour_space_name(options_.space()) +
                                    ":whiten=" + (options_.whiten() ? "on" : "off") +
                                    ":k=" + std::to_string(options_.k()) +
                                    ":guard=" + (options_.guard() ? "on" : "off")
                              : std::string());
}

torch::Tensor reliable_labels(const torch::Tensor& probabilities, const torch::Tensor& neighbours,
                              double threshold, double agreement) {
  const auto [confidence, cluster] = probabilities.max(1);
  const torch::Tensor agree = neighbour_agreement(cluster, neighbours);
  const torch::Tensor keep = confidence.ge(threshold).logical_and(agree.ge(agreement - 1e-6));
  return torch::where(keep, cluster, torch::full_like(cluster, -1));
}

void SelfLabelStage::begin(StageContext& context) {
  const SelfLabelOptions& l = options_.loss();
  log_info(c10::str("self-labelling stage (threshold ", l.threshold(), ", quota ", l.quota(),
                    ", lr ", options_.lr(), ", entropy weight ", l.entropy_weight(),
                    options_.reliable() ? ", reliable labels fixed now" : ", online labels", ")"));
  if (!options_.reliable()) return;
  const torch::Tensor p = context.probabilities();
  const torch::Tensor neighbours = mine_neighbours(context, options_.space(), options_.k(),
                                                   options_.whiten(), "self-labelling stage");
  reliable_ = reliable_labels(p, neighbours, l.threshold(), options_.agreement());
  const torch::Tensor counts =
      torch::bincount(reliable_.masked_select(reliable_.ge(0)), {}, p.size(1));
  log_info(c10::str("self-labelling stage: ", reliable_.ge(0).sum().item<int64_t>(), " of ",
                    reliable_.size(0), " images reliably labelled (probability >= ", l.threshold(),
                    ", >= ", options_.agreement(), " of their neighbours in the same cluster); ",
                    "per cluster ", counts.min().item<int64_t>(), " to ",
                    counts.max().item<int64_t>()));
  if (options_.guard()) guard_.begin(context, neighbours, "self-labelling stage");
}

bool SelfLabelStage::end(StageContext& context) {
  return options_.reliable() && options_.guard() && guard_.end(context, "self-labelling stage");
}

StageState SelfLabelStage::state() const {
  if (!options_.reliable()) return {};
  StageState state{{"pseudo_labels", reliable_}};
  if (options_.guard()) guard_.save(state);
  return state;
}

void SelfLabelStage::restore(const StageState& state, const std::string& source) {
  if (!options_.reliable()) return;
  for (const auto& [name, tensor] : state) {
    if (name == "pseudo_labels") reliable_ = tensor.to(torch::kInt64);
  }
  DCACN_CHECK(reliable_.defined() && reliable_.dim() == 1, source,
              " is inside a self-labelling stage with reliable labels but holds none");
  if (options_.guard()) guard_.restore(state, source);
}

// Pseudo-labels from the un-augmented images (of the global batch `index`), then the stage's
// loss on their views.
LossTerms SelfLabelStage::batch_losses(StageContext& context, const torch::Tensor& images,
                                       const torch::Tensor& index) {
  const std::vector<torch::Tensor> views = context.augment()(images);
  const SelfLabelOptions& l = options_.loss();
  if (options_.reliable()) {
    const torch::Tensor labels = reliable_.index_select(0, index.to(torch::kCPU, torch::kInt64));
    context.record_pseudo_labels(index, labels);
    return context.step().self_label_losses(views, labels.to(context.device()), l);
  }
  context.share_statistics();  // every rank labels with the model that is saved
  torch::Tensor probabilities =
      context.step().predict(eval_transform(images, context.image_size()));
  if (context.comm() != nullptr) probabilities = context.comm()->all_gather(probabilities);
  const torch::Tensor labels = select_pseudo_labels(probabilities, l.threshold(), l.quota());
  context.record_pseudo_labels(index, labels);
  return context.step().self_label_losses(views, labels, l);
}

}  // namespace dcacn
