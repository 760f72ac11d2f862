#pragma once
// A training run is an ordered list of stages (train/pipeline.h). A stage is one kind of
// training (contrastive, neighbour clustering, self-labelling) with its own settings and budget;
// the session (train/session.h) owns everything the stages share (device and ranks, data,
// network, optimiser, evaluation, checkpoints, progress) and offers it through StageContext.
//
// Label-blind by construction: a stage sees the images through TrainingImages, which has no
// labels, and StageContext has no way to reach them. Labels enter only the session's scorer
// (metrics rows, final.json and log lines that say they use them).
//
// Two shapes of stage:
// - stepwise (contrastive, self-labelling): the session runs its epoch loop over shuffled
//   batches and asks the stage for each batch's losses and learning rate; the stage ends when
//   its budget (minutes, steps or epochs, counted from its start) is spent.
// - whole (neighbours): run() does the stage's work at once and returns the network's
//   predictions and features after it.

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "dcacn/augment/multicrop.h"
#include "dcacn/dist/communicator.h"
#include "dcacn/model/dcacn_model.h"
#include "dcacn/train/losses.h"
#include "dcacn/train/train_step.h"

namespace dcacn {

/// The kinds of stage. The values are the `stage` column of metrics.csv and of checkpoints.
enum class StageKind { kContrastive = 1, kSelfLabel = 2, kNeighbours = 3, kScan = 4 };

/// "contrastive", "selflabel", "neighbours", "scan": the names --stages uses.
std::string stage_kind_name(StageKind kind);

/// A stage's budget, counted from the stage's start; 0 is no limit. A stepwise stage ends at
/// whichever comes first.
struct StageBudget {
  bool unlimited() const { return minutes() <= 0 && share() <= 0 && steps() <= 0 && epochs() <= 0; }
  /// The stage's time limit in minutes: `minutes`, and `share` of the run's minutes, whichever
  /// is smaller (0: no time limit).
  double limit_minutes() const;
  /// The settings, not the run's minutes, make two budgets the same.
  bool operator==(const StageBudget& other) const;

  /// Wall time of the stage, its periodic evaluations included.
  TORCH_ARG(double, minutes) = 0;
  /// A fraction (0, 1] of the run's time budget (--time-budget with --stages): the stage's
  /// minutes follow the run's, so one pipeline serves every budget.
  TORCH_ARG(double, share) = 0;
  /// The run's time budget in minutes, which `share` is a fraction of (set by build_pipeline).
  TORCH_ARG(double, run_minutes) = 0;
  /// Optimisation steps.
  TORCH_ARG(int64_t, steps) = 0;
  /// Passes over the data (a stage that begins inside an epoch counts from the next one).
  TORCH_ARG(int64_t, epochs) = 0;
};

/// ":minutes=27:share=0.5:epochs=1000" (the limits set, in this order; "" when unlimited).
std::string budget_text(const StageBudget& budget);

/// One stage's `key=value` settings as --stages gives them; each getter takes its key out, so
/// that expect_all_used() can name a key no stage knows.
class StageSettings {
 public:
  explicit StageSettings(std::string stage);
  /// The run's time budget, which a budget's share= is a fraction of (0: none).
  void set_run_minutes(double minutes) { run_minutes_ = minutes; }
  void set(const std::string& key, const std::string& value);
  double number(const std::string& key, double fallback);
  int64_t integer(const std::string& key, int64_t fallback);
  std::string text(const std::string& key, const std::string& fallback);
  /// on or off.
  bool flag(const std::string& key, bool fallback);
  /// minutes=, share=, steps=, epochs=.
  StageBudget budget();
  /// InputError naming the first setting left, and `known` (the keys the stage takes).
  void expect_all_used(const std::string& known) const;

 private:
  std::string stage_;
  std::map<std::string, std::string> values_;
  double run_minutes_ = 0;
};

/// The images a stage trains on: [N, C, H, W] uint8 (CPU). No labels, by design.
struct TrainingImages {
  torch::Tensor images;
  std::string name;  ///< for logs, e.g. "fashion-mnist (all)"

  int64_t size() const { return images.size(0); }
  int64_t channels() const { return images.size(1); }
};

/// Thrown by a stage that stops because a stop was requested (Ctrl-C, SIGTERM): the session
/// keeps the checkpoint from before the stage.
struct StageInterrupted {};

/// What the session offers a stage.
class StageContext {
 public:
  virtual ~StageContext() = default;
  virtual const TrainingImages& images() const = 0;
  virtual DCACN& model() = 0;
  virtual TrainStep& step() = 0;
  virtual MultiCropAugmenter& augment() = 0;
  /// The evaluation transform's size (the global views').
  virtual int64_t image_size() const = 0;
  virtual torch::Device device() const = 0;
  /// Data-parallel runs only; nullptr otherwise.
  virtual Communicator* comm() = 0;
  virtual uint64_t seed() const = 0;
  /// [N, D] float (CPU): the backbone features of every image under the current network.
  virtual torch::Tensor features() = 0;
  /// [N, K] float (CPU): the cluster probabilities of every (un-augmented) image under the
  /// current network.
  virtual torch::Tensor probabilities() = 0;
  /// Optimisation steps taken: the backbone changes with each step and only with them.
  virtual int64_t network_version() const = 0;
  /// Whether a stop was requested; agreed by every rank (a collective when data-parallel).
  virtual bool stop_requested() = 0;
  /// The progress line (rank 0 shows it); finish_progress() ends it.
  virtual void show_progress(const std::string& line) = 0;
  virtual void finish_progress() = 0;
  /// Whole stages: the seconds of the run's time budget (--time-budget with --stages) left for
  /// the current stage: the budget less the time spent, the later stages' estimates and the
  /// time kept for after the run; infinity without a run budget. Agreed by every rank (a
  /// collective when data-parallel: every rank calls it at the same points).
  virtual double seconds_left() = 0;
  /// The seconds past its time budget a run may end (a run's promise is to end within +3% of
  /// it; this is 2% of it, 0 without a run budget): for a whole stage whose start-up estimate
  /// fell short to reach the least of its work that keeps its result (the heads' first passes).
  virtual double seconds_allowed_over() const { return 0; }
  /// Steps taken and run time spent since the stage began; batches per epoch.
  virtual int64_t steps_in_stage() const = 0;
  virtual double seconds_in_stage() const = 0;
  virtual int64_t steps_per_epoch() const = 0;
  /// For the scorer's statistics: the pseudo-labels [B] (-1: none) a self-labelling stage gave
  /// the images `index` [B] of a global batch.
  virtual void record_pseudo_labels(const torch::Tensor& index, const torch::Tensor& labels) = 0;
  /// Data-parallel: rank 0's BatchNorm statistics on every rank (each rank's own drift apart
  /// in training, and a resumed run starts from rank 0's). No-op in one process.
  virtual void share_statistics() = 0;
  /// Neighbours [N, k] mined under `key` (train/neighbour_mining.h) in `seconds`: kept for the
  /// stages after (the latest of each space), and logged by the scorer.
  virtual void record_neighbours(const std::string& key, const torch::Tensor& neighbours,
                                 double seconds) = 0;
  /// Those recorded under `key`, or an undefined tensor.
  virtual torch::Tensor cached_neighbours(const std::string& key) const = 0;
  /// Puts `head` in place of the network's cluster head when its K differs (the optimizer then
  /// starts afresh on the new parameters).
  virtual void replace_cluster_head(ClusterHead head) = 0;
  /// Writes `text` to the run's folder as `name`, atomically (rank 0 only; others ignore it).
  virtual void write_run_file(const std::string& name, const std::string& text) = 0;
};

/// What a whole stage leaves: the network's cluster of every image after it and the features it
/// clustered, and its loss terms for the metrics row.
struct WholeStageResult {
  torch::Tensor predictions;  ///< [N] int64, CPU
  torch::Tensor features;     ///< [N, D] float, CPU
  double total = 0, consistency = 0, entropy = 0;
};

/// Tensors a stage computes when it begins and uses until it ends (neighbours, pseudo-labels):
/// a checkpoint taken inside the stage keeps them, and a run resumed there hands them back.
using StageState = std::vector<std::pair<std::string, torch::Tensor>>;

class Stage {
 public:
  virtual ~Stage() = default;
  virtual StageKind kind() const = 0;
  /// "contrastive:minutes=27:epochs=1000": the stage as --stages writes it.
  virtual std::string describe() const = 0;
  virtual const StageBudget& budget() const = 0;
  /// Stepwise stages are trained batch by batch by the session; whole stages run at once.
  virtual bool stepwise() const = 0;

  /// Called once when the stage begins (not when a run resumes inside it).
  virtual void begin(StageContext& context) {}
  /// What begin() computed (CPU tensors), for a checkpoint inside the stage.
  virtual StageState state() const { return {}; }
  /// A run resumed inside the stage: `state` is what state() gave; InputError naming `source`
  /// when something the stage needs is missing.
  virtual void restore(const StageState& state, const std::string& source) {}

  /// Stepwise: the losses of one batch, `images` [B, C, H, W] uint8 on the device (this rank's
  /// shard of the global batch `index` [G]), with the graph.
  virtual LossTerms batch_losses(StageContext& context, const torch::Tensor& images,
                                 const torch::Tensor& index);
  /// Stepwise: Adam's learning rate for the next step.
  virtual double learning_rate(StageContext& context) const;
  /// Stepwise: called when the stage has spent its budget; true when the stage put another
  /// network into the model (its guard put back the one it started from, or its weight average
  /// took the network's place).
  virtual bool end(StageContext& context) { return false; }
  /// Stepwise: whether end() always puts another network in place (scored on every image
  /// after the network as trained: two evaluations for a run's time budget to keep).
  virtual bool end_replaces_network() const { return false; }
  /// Stepwise: the progress line's words for the stage and for its second loss term.
  virtual std::string progress_name() const { return stage_kind_name(kind()); }
  virtual std::string second_loss_name() const { return "clus"; }

  /// Whole: runs the stage. Throws StageInterrupted when a stop is requested during it.
  virtual WholeStageResult run(StageContext& context);
  /// Whole: the seconds run() is expected to take if it began now, for a run's time budget
  /// (what the context has cached counted as free); from timings of small pieces of its work,
  /// taken once (until retime()).
  virtual double estimate_seconds(StageContext& context) { return 0; }
  /// Whole: forgets the timings estimate_seconds() took, so that its next call takes them again.
  virtual void retime() {}
};

}  // namespace dcacn
