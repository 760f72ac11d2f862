#pragma once
// One session of a run: from set-up to the end of the pipeline or to a stop. It owns what every
// stage shares (device and ranks, the data, the network, the optimiser, sharded evaluation,
// checkpoint writing, the metrics log, progress and ETA over the whole pipeline) and runs the
// stages in order (train/pipeline.h), each through the StageContext it implements.
//
// Labels: the session keeps the data's labels for its scorer alone (metrics rows, final.json
// and the log lines that say so); stages get the images through TrainingImages.

#include <torch/optim/adam.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dcacn/data/dataset.h"
#include "dcacn/dist/communicator.h"
#include "dcacn/infer/inference.h"
#include "dcacn/run/checkpoint.h"
#include "dcacn/run/config.h"
#include "dcacn/train/checkpoint_writer.h"
#include "dcacn/train/evaluation.h"
#include "dcacn/train/losses.h"
#include "dcacn/train/metrics_log.h"
#include "dcacn/train/pipeline.h"
#include "dcacn/train/stop_policy.h"
#include "dcacn/util/progress.h"

namespace dcacn {

struct TrainResult {
  enum class Status { kFinished, kBudgetReached, kInterrupted };
  Status status = Status::kFinished;
  int64_t epoch = 0;  ///< epoch in progress when stopped
  int64_t step = 0;
  double train_seconds = 0;
  EvalResult last_eval;
  /// The images the run trained on (tensors shared with the session's): with last_eval's
  /// features, what a command needs after training without reading and running them again.
  Dataset data;
};

/// Where a run stands: everything of it a checkpoint keeps, besides the weights and states.
struct TrainState {
  int64_t epoch = 0;          ///< the epoch in progress
  int64_t batch = 0;          ///< the next batch of that epoch
  int64_t step = 0;           ///< optimisation steps taken
  double seconds_before = 0;  ///< run time of the earlier sessions
  double lr = 0;              ///< of the latest step
  LossSums losses;            ///< since the latest metrics row
  int64_t stage_index = 0;    ///< the stage in progress, or the next one
  bool stage_started = false;
  int64_t stage_start_step = 0;
  double stage_start_seconds = 0;
  int64_t stage_start_epoch = 0;
  /// The kind of the stage that trained the weights (metrics.csv's stage column).
  StageKind weights_from = StageKind::kContrastive;
};

/// Where a checkpoint stands in `pipeline`; versions 1-3 (no pipeline recorded) are placed in
/// the pipeline their configuration describes. InputError naming `source` when it does not fit.
TrainState restored_state(const Checkpoint& checkpoint, const std::string& source);

/// The contrastive losses' settings of a configuration.
LossOptions loss_options(const TrainConfig& config);

class TrainingSession : public StageContext {
 public:
  /// `restored`: resuming from that checkpoint (nullptr: a new run).
  TrainingSession(const TrainConfig& config, const std::string& run_dir, const Checkpoint* restored,
                  StopPolicy& stop, const DistEnv& dist, const CommunicatorOptions& comm_options);
  ~TrainingSession() override;
  /// Counts this session's time from `t` instead of from the end of its construction, when
  /// that is earlier: what the command did before (its checks, --precision auto's timing, the
  /// data's loading) belongs to the run's time budget.
  void count_time_from(std::chrono::steady_clock::time_point t);
  TrainResult run();

  // StageContext.
  const TrainingImages& images() const override { return images_; }
  DCACN& model() override { return model_; }
  TrainStep& step() override { return *step_; }
  MultiCropAugmenter& augment() override { return *augment_; }
  int64_t image_size() const override { return image_size_; }
  torch::Device device() const override { return device_; }
  Communicator* comm() override { return comm_.get(); }
  uint64_t seed() const override { return c_.seed; }
  torch::Tensor features() override;
  torch::Tensor probabilities() override;
  int64_t network_version() const override { return state_.step; }
  bool stop_requested() override;
  double seconds_left() override;
  double seconds_allowed_over() const override {
    return run_seconds_ > 0 ? 0.02 * run_seconds_ : 0;
  }
  void show_progress(const std::string& line) override;
  void finish_progress() override { progress_.finish(); }
  int64_t steps_in_stage() const override { return state_.step - state_.stage_start_step; }
  double seconds_in_stage() const override { return shared_elapsed_ - state_.stage_start_seconds; }
  int64_t steps_per_epoch() const override { return batches_; }
  void record_pseudo_labels(const torch::Tensor& index, const torch::Tensor& labels) override;
  void record_neighbours(const std::string& key, const torch::Tensor& neighbours,
                         double seconds) override;
  torch::Tensor cached_neighbours(const std::string& key) const override;
  void replace_cluster_head(ClusterHead head) override;
  void write_run_file(const std::string& name, const std::string& text) override;
  void share_statistics() override;

 private:
  enum class StageEnd { kEpochs, kBudget, kDone, kInterrupted };

  void restore(const Checkpoint& ck, const std::string& source);
  Checkpoint snapshot(int64_t at_epoch, int64_t at_batch);
  double elapsed() const;
  // Data-parallel agreement: every rank takes rank 0's stop decision and clock.
  StopPolicy::Reason agreed_check(const Stage& stage);
  bool agreed(bool rank0_value);
  void synchronise_model();
  /// The network over all images (sharded when data-parallel), timed into eval_seconds_.
  EvalResult evaluate_model();
  EvalResult evaluate_all();
  /// last_eval_, evaluated again unless it is of the current step and has features.
  const EvalResult& current_outputs();
  bool leader() const { return comm_ == nullptr || comm_->rank() == 0; }
  bool last_stage() const;
  void begin_stage(Stage& stage);
  StageEnd train_stage(Stage& stage);
  StageEnd end_stage(Stage& stage, StopPolicy::Reason reason, int64_t at_epoch, int64_t at_batch);
  StageEnd run_whole_stage(Stage& stage);
  bool epochs_spent(const Stage& stage) const;
  void train_batch(Stage& stage, const torch::Tensor& order);
  void show_step(const Stage& stage, const StepLosses& losses);
  double eta_seconds(double seconds_per_step) const;
  /// Run-budget runs: the seconds the run is expected to need after the current stepwise stage
  /// ends: its final evaluation, the later whole stages' estimates (Stage::estimate_seconds)
  /// and the later stepwise stages' evaluations.
  double reserve_seconds();
  /// The evaluations at a stepwise stage's end: one, two where its end() replaces the network.
  double end_evaluations_seconds(const Stage& stage);
  /// The later stages' part of reserve_seconds(), with the time kept for after the run.
  double later_stages_seconds();
  /// Each later stage's estimated seconds (a stepwise one: its final evaluation), in order.
  std::vector<double> later_stage_estimates();
  /// "89 s of it kept for what follows the current stage (its evaluation 42 s, stage 2 47 s"
  /// (open, for the caller to close).
  std::string reserve_text();
  /// The seconds an evaluation of every image takes: measured, or estimated before the first.
  double eval_estimate();
  /// `sample`: a periodic evaluation, on --eval-images images when set (not kept for the
  /// stages, whose features cover every image).
  void evaluate_and_save(int64_t at_epoch, int64_t at_batch, bool final,
                         EvalResult* ready = nullptr, bool sample = false);
  EvalResult evaluate_sample();
  /// Whether --eval-images makes the periodic evaluations score a sample.
  bool sampling() const;
  InferenceOptions eval_inference_options() const;
  double scaled_to_a_share(std::chrono::steady_clock::time_point start, int64_t images) const;
  bool periodic_eval_due();
  /// The scorer: the pseudo-labels recorded since the last row, against the true labels.
  PseudoLabelStats pseudo_label_stats() const;
  void write_final(const EvalResult& ev);
  void interrupted(const std::string& where);
  TrainResult result(TrainResult::Status status) const;

  const TrainConfig& c_;
  std::string run_dir_;
  bool resumed_;
  StopPolicy& stop_;
  Pipeline stages_;
  torch::Device device_;
  std::unique_ptr<Communicator> comm_;  // data-parallel runs only
  int64_t local_batch_;                 // this rank's share of a batch
  double shared_elapsed_ = 0;           // rank 0's clock at the latest agreed check
  int64_t retimed_stage_ = -1;          // the stage near whose end the later ones were re-timed
  int64_t first_step_ = 0;              // the step this session started at
  Dataset data_;                        // labels: the scorer's alone
  TrainingImages images_;               // what the stages see
  int64_t image_size_;
  DCACN model_;
  std::unique_ptr<torch::optim::Adam> adam_;
  std::unique_ptr<MultiCropAugmenter> augment_;
  std::unique_ptr<TrainStep> step_;
  CheckpointWriter writer_;
  std::unique_ptr<MetricsLog> metrics_;
  ThroughputMeter meter_;
  TrainState state_;
  // Pseudo-labels since the latest metrics row: (image, label) pairs, and a version 3
  // checkpoint's counts.
  std::vector<torch::Tensor> pseudo_index_, pseudo_labels_;
  torch::Tensor carried_pseudo_counts_;
  int64_t batches_;  // per epoch (drop_last)
  std::chrono::steady_clock::time_point start_;
  int64_t last_eval_step_ = -1;  // the step of the latest evaluation, to not repeat it
  EvalResult last_eval_;
  bool final_written_ = false;
  std::map<std::string, torch::Tensor> neighbours_;  // the latest mined of each space
  // The run's time budget when it covers the whole pipeline (--stages with --time-budget; 0:
  // none), and the latest evaluation's time (its estimate before the first: -1 until taken).
  double run_seconds_ = 0;
  double eval_seconds_ = 0;
  double eval_calibration_ = -1;
  double next_eval_seconds_ = 0;  // --eval-every-minutes: the run clock's next evaluation
  Dataset sample_;                // --eval-images: the sample, once drawn
  int64_t sampled_step_ = -1;     // the step of the latest row scored on the sample
  Progress progress_;
};

}  // namespace dcacn
