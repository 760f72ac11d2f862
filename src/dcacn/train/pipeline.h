#pragma once
// A run's pipeline: its stages in order, written as one option.
//
//   --stages contrastive:27m,neighbours:space=pixels,selflabel:minutes=5:threshold=0.99
//
// Stages are separated by commas; each is a kind followed by `:key=value` settings:
//   budgets (every stepwise kind): minutes=M (or Mm), share=F, steps=S, epochs=E, counted from
//     the stage's start; the stage ends at whichever comes first. A stepwise stage needs one.
//     share=F is F of the run's time budget (--time-budget, which with --stages is the whole
//     run's: train/session.h), so that one pipeline serves every budget.
//   contrastive: lr=, schedule=constant|cosine (over the stage's budget).
//   selflabel:   lr=, threshold=, quota=, ce=, instance=, entropy= (train/self_labelling.h),
//                labels=online|reliable, and for reliable labels agreement=, space=, k=
//                (train/selflabel_stage.h).
//   neighbours:  space=pixels|features|both, k=, heads=, passes=, lr=, entropy=
//                (train/neighbour_stage.h); a whole stage, no budget.
//   scan:        lr=, space=pixels|features|both, k=, entropy= (train/scan_stage.h): the neighbour
//                objective trained through the backbone.
// A setting not given takes the run's flag of the same meaning (--selflabel-threshold, ...).
// The same kind may appear more than once.
//
// Without --stages, the pipeline follows from the flags of earlier versions: contrastive with
// --epochs, --time-budget and --max-steps as its budget, then self-labelling when
// --selflabel-minutes or --selflabel-steps is set, then the neighbour stage when --neighbours
// is not off.

#include <memory>
#include <string>
#include <vector>

#include "dcacn/run/config.h"
#include "dcacn/train/stage.h"

namespace dcacn {

using Pipeline = std::vector<std::unique_ptr<Stage>>;

/// The pipeline of a configuration: config.stages parsed, or the one its flags describe.
/// InputError naming the stage and the setting when the text is wrong.
Pipeline build_pipeline(const TrainConfig& config);

/// "contrastive:epochs=1000:minutes=27,neighbours:space=pixels:k=20:...": the pipeline
/// written out in full, every setting included (the form checkpoints record).
std::string pipeline_text(const Pipeline& pipeline);

/// A stage's text without its budget: two stages with the same settings train the same way.
std::string stage_settings(const Stage& stage);

/// The pipeline text the flags of earlier versions describe (config.stages empty).
std::string legacy_pipeline_text(const TrainConfig& config);

/// Shortest decimal text of `value` that reads back as the same double.
std::string exact_number(double value);

}  // namespace dcacn
