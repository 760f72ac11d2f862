#include "dcacn/train/contrastive_stage.h"

#include "dcacn/train/pipeline.h"
#include "dcacn/util/error.h"

namespace dcacn {

ContrastiveStageOptions contrastive_options(StageSettings& s, const TrainConfig& c) {
  ContrastiveStageOptions o;
  o.budget(s.budget());
  o.lr(s.number("lr", c.lr));
  o.schedule(parse_lr_schedule(s.text("schedule", c.lr_schedule), "--stages contrastive schedule"));
  s.expect_all_used("minutes, share, steps, epochs, lr, schedule");
  DCACN_CHECK(o.lr() > 0, "--stages: contrastive lr must be positive, got ", o.lr());
  return o;
}

std::string ContrastiveStage::describe() const {
  return "contrastive" + budget_text(options_.budget()) + ":lr=" + exact_number(options_.lr()) +
         ":schedule=" + lr_schedule_name(options_.schedule());
}

LossTerms ContrastiveStage::batch_losses(StageContext& context, const torch::Tensor& images,
                                         const torch::Tensor& index) {
  return context.step().losses(context.augment()(images));
}

double ContrastiveStage::learning_rate(StageContext& context) const {
  const double fraction = budget_fraction(options_.budget(), context.steps_in_stage(),
                                          context.steps_per_epoch(), context.seconds_in_stage());
  return scheduled_lr(options_.lr(), options_.schedule(), fraction);
}

}  // namespace dcacn
