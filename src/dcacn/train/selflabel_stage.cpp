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
  s.expect_all_used("minutes, steps, epochs, lr, threshold, quota, ce, instance, entropy");
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
         ":entropy=" + exact_number(l.entropy_weight());
}

void SelfLabelStage::begin(StageContext& context) {
  const SelfLabelOptions& l = options_.loss();
  log_info(c10::str("self-labelling stage (threshold ", l.threshold(), ", quota ", l.quota(),
                    ", lr ", options_.lr(), ", entropy weight ", l.entropy_weight(), ")"));
}

// Pseudo-labels from the un-augmented images (of the global batch `index`), then the stage's
// loss on their views.
LossTerms SelfLabelStage::batch_losses(StageContext& context, const torch::Tensor& images,
                                       const torch::Tensor& index) {
  const std::vector<torch::Tensor> views = context.augment()(images);
  context.share_statistics();  // every rank labels with the model that is saved
  torch::Tensor probabilities =
      context.step().predict(eval_transform(images, context.image_size()));
  if (context.comm() != nullptr) probabilities = context.comm()->all_gather(probabilities);
  const SelfLabelOptions& l = options_.loss();
  const torch::Tensor labels = select_pseudo_labels(probabilities, l.threshold(), l.quota());
  context.record_pseudo_labels(index, labels);
  return context.step().self_label_losses(views, labels, l);
}

}  // namespace dcacn
