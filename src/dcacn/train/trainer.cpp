#include "dcacn/train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "dcacn/augment/multicrop.h"
#include "dcacn/augment/transforms.h"
#include "dcacn/cluster/neighbours.h"
#include "dcacn/data/registry.h"
#include "dcacn/infer/inference.h"
#include "dcacn/model/state_dict.h"
#include "dcacn/run/setup.h"
#include "dcacn/train/checkpoint_writer.h"
#include "dcacn/train/metrics_log.h"
#include "dcacn/train/neighbour_head.h"
#include "dcacn/train/schedule.h"
#include "dcacn/train/self_labelling.h"
#include "dcacn/train/train_step.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/log.h"
#include "dcacn/util/progress.h"

namespace dcacn {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The order of the samples in an epoch: a function of the seed and the epoch only, so that a
// resumed run sees the same order.
torch::Tensor epoch_order(uint64_t seed, int64_t epoch, int64_t n) {
  at::Generator gen =
      at::detail::createCPUGenerator(seed * 1000003ULL + static_cast<uint64_t>(epoch) + 1);
  return torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kInt64));
}

LossOptions loss_options(const TrainConfig& c) {
  LossOptions o;
  o.instance = parse_contrast(c.instance_loss);
  o.instance_temperature = c.instance_temperature;
  o.cluster = parse_contrast(c.cluster_loss);
  o.reading = parse_cluster_reading(c.cluster_reading);
  o.cluster_temperature = c.cluster_temperature;
  o.cluster_weight = c.cluster_weight;
  o.entropy_weight = c.entropy_weight;
  return o;
}

// The images as rows of floats for mining neighbours in pixel space: [N, C*H*W], area-averaged
// down to at most 32 x 32 pixels first (larger images would make the rows, and the similarity
// products, costly without making the neighbours better).
torch::Tensor pixel_space(const torch::Tensor& images, torch::Device device) {
  constexpr int64_t kSide = 32;
  std::vector<torch::Tensor> rows;
  for (int64_t start = 0; start < images.size(0); start += 4096) {
    torch::Tensor x =
        to_device(images.slice(0, start, start + 4096), device).to(torch::kFloat32) / 255.0;
    if (x.size(2) > kSide || x.size(3) > kSide) {
      x = torch::adaptive_avg_pool2d(x, {std::min(kSide, x.size(2)), std::min(kSide, x.size(3))});
    }
    rows.push_back(x.flatten(1));
  }
  return torch::cat(rows);
}

// Thrown when a stop is requested during the neighbour stage.
struct NeighbourStageInterrupted {};

// Where a run stands; everything of it a checkpoint keeps, besides the weights and states.
struct TrainState {
  int64_t epoch = 0;          // the epoch in progress
  int64_t batch = 0;          // the next batch of that epoch
  int64_t step = 0;           // optimisation steps taken
  double seconds_before = 0;  // run time of the earlier sessions
  double best_acc = -1;
  double lr = 0;      // of the latest step
  LossSums losses;    // since the latest metrics row
  int64_t stage = 1;  // 1: contrastive, 2: self-labelling, 3: neighbour stage done
  int64_t stage_start_step = 0;
  double stage_start_seconds = 0;
};

SelfLabelOptions self_label_options(const TrainConfig& c) {
  SelfLabelOptions o;
  o.threshold = c.selflabel_threshold;
  o.quota = c.selflabel_quota;
  o.ce_weight = c.selflabel_ce_weight;
  o.instance_weight = c.selflabel_instance_weight;
  o.entropy_weight = c.selflabel_entropy_weight;
  return o;
}

NeighbourHeadOptions neighbour_head_options(const TrainConfig& c) {
  NeighbourHeadOptions o;
  o.heads = c.neighbour_heads;
  o.epochs = c.neighbour_epochs;
  o.lr = c.neighbour_lr;
  o.entropy_weight = c.neighbour_entropy_weight;
  o.seed = c.seed;
  return o;
}

Dataset load_training_data(const TrainConfig& c) {
  Dataset data = load_dataset(dataset_spec(c));
  DCACN_CHECK(data.size() >= c.batch_size, "--batch-size ", c.batch_size, " is larger than the ",
              data.size(), " images of ", data.name);
  return data;
}

// A new run's network from its configuration; a resumed one's from its checkpoint's record.
DCACNOptions network_options(const TrainConfig& c, const Dataset& data, int64_t image_size,
                             const Checkpoint* restored) {
  if (restored == nullptr) return model_options(c, data.channels(), image_size);
  DCACN_CHECK(restored->network.in_channels() == data.channels(), "the run's network takes ",
              restored->network.in_channels(), "-channel images, but ", data.name, " has ",
              data.channels());
  return restored->network;
}

// The device of a rank: CUDA devices are taken one per rank of a machine (LOCAL_RANK).
torch::Device rank_device(torch::Device device, const DistEnv& dist) {
  if (!device.is_cuda() || !dist.distributed()) return device;
  const int64_t gpus = static_cast<int64_t>(torch::cuda::device_count());
  DCACN_CHECK(dist.local_rank < gpus, "rank ", dist.rank, " has LOCAL_RANK ", dist.local_rank,
              ", but this machine shows ", gpus, " GPU(s): start at most one rank per GPU");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(dist.local_rank));
}

int64_t shard_batch(const TrainConfig& c, const DistEnv& dist) {
  DCACN_CHECK(c.batch_size % dist.world_size == 0, "--batch-size ", c.batch_size,
              " is the global batch and must divide among the ", dist.world_size, " ranks");
  return c.batch_size / dist.world_size;
}

DCACN build_network(const DCACNOptions& options, const TrainConfig& c, torch::Device device) {
  torch::manual_seed(c.seed);
  DCACN model(options);
  if (c.channels_last) to_channels_last(*model);
  model->to(device);
  return model;
}

// One session of a run: the live objects, from set-up to the end of run().
class TrainingSession {
 public:
  TrainingSession(const TrainConfig& c, const std::string& run_dir, const Checkpoint* restored,
                  StopPolicy& stop, const DistEnv& dist, const CommunicatorOptions& comm_options);
  TrainResult run();

 private:
  void restore(const Checkpoint& ck, const std::string& source);
  Checkpoint snapshot(int64_t at_epoch, int64_t at_batch);
  double elapsed() const;
  // Data-parallel agreement: every rank takes rank 0's stop decision and clock.
  StopPolicy::Reason agreed_check();
  bool agreed(bool rank0_value);
  void synchronise_model();
  EvalResult evaluate_model();
  bool leader() const { return comm_ == nullptr || comm_->rank() == 0; }
  int64_t session_steps() const { return state_.step - first_step_; }
  void train_batch(const torch::Tensor& order);
  LossTerms self_label_batch(const torch::Tensor& images, const torch::Tensor& index);
  void begin_selflabel_stage();
  bool neighbour_stage_pending() const { return c_.has_neighbour_stage() && state_.stage != 3; }
  EvalResult run_neighbour_stage(const EvalResult& before);
  /// False when the stage was interrupted (the checkpoint from before it stays the last).
  bool end_with_neighbour_stage(int64_t at_epoch, int64_t at_batch);
  bool stage_budget_reached(StopPolicy::Reason reason) const;
  void show_progress(const StepLosses& losses);
  void evaluate_and_save(int64_t at_epoch, int64_t at_batch, bool final,
                         EvalResult* ready = nullptr);
  void write_final(const EvalResult& ev);
  TrainResult finish(StopPolicy::Reason reason);
  TrainResult result(TrainResult::Status status) const;

  const TrainConfig& c_;
  std::string run_dir_;
  bool resumed_;
  StopPolicy& stop_;
  torch::Device device_;
  std::unique_ptr<Communicator> comm_;  // data-parallel runs only
  int64_t local_batch_;                 // this rank's share of a batch
  double shared_elapsed_ = 0;           // rank 0's clock at the latest agreed check
  int64_t first_step_ = 0;              // the step this session started at
  Dataset data_;
  MultiCropSpec views_;
  int64_t image_size_;
  DCACN model_;
  torch::optim::Adam adam_;
  MultiCropAugmenter augment_;
  TrainStep step_;
  CheckpointWriter writer_;
  std::unique_ptr<MetricsLog> metrics_;
  ThroughputMeter meter_;
  TrainState state_;
  PseudoLabelStats pseudo_;  // since the latest metrics row (self-labelling stage)
  int64_t batches_;          // per epoch (drop_last)
  Clock::time_point start_;
  int64_t last_eval_step_ = -1;  // the step of the latest evaluation, to not repeat it
  EvalResult last_eval_;
  Progress progress_;
};

TrainingSession::TrainingSession(const TrainConfig& c, const std::string& run_dir,
                                 const Checkpoint* restored, StopPolicy& stop, const DistEnv& dist,
                                 const CommunicatorOptions& comm_options)
    : c_(c),
      run_dir_(run_dir),
      resumed_(restored != nullptr),
      stop_(stop),
      device_(rank_device(pick_device(c.device), dist)),
      comm_(dist.distributed() ? std::make_unique<Communicator>(dist, device_, comm_options)
                               : nullptr),
      local_batch_(shard_batch(c, dist)),
      data_(load_training_data(c)),
      views_(view_spec(c)),
      image_size_(views_.global.front().size),
      model_(build_network(network_options(c, data_, image_size_, restored), c, device_)),
      adam_(model_->parameters(), torch::optim::AdamOptions(c.lr).weight_decay(c.weight_decay)),
      augment_(views_, c.seed),
      step_(model_, adam_,
            {local_batch_, static_cast<int64_t>(views_.global.size()), loss_options(c), c.bf16,
             c.channels_last, comm_.get()}),
      writer_(run_dir, c.keep_epoch_checkpoints),
      pseudo_(c.clusters, data_.has_labels() ? data_.num_classes() : 0),
      batches_(data_.size() / c.batch_size) {
  log_info(c10::str("training on ", data_.name, ": ", data_.size(), " images, views ",
                    views_.describe(), ", device ", device_.str(),
                    c.bf16 ? ", bf16 autocast" : ""));
  const std::string cpu_preset = dataset_info(c).cpu_preset;
  if (device_.is_cpu() && c.preset.empty() && !cpu_preset.empty() && !resumed_) {
    log_info(c10::str("on a CPU, --preset ", cpu_preset, " trains a network sized for it"));
  }
  state_.lr = c.lr;
  if (restored != nullptr) restore(*restored, writer_.path("last"));
  if (comm_ != nullptr) {
    log_info(c10::str("rank ", comm_->rank(), " of ", comm_->size(), " (", comm_->backend(), "), ",
                      local_batch_, " images of each batch of ", c.batch_size));
    comm_->check_same("configuration", c.to_json().dump(1) + c10::str("\nstep ", state_.step));
    synchronise_model();
    // Each rank draws its own views; rank 0 continues the run's stream.
    if (comm_->rank() > 0) {
      augment_.generator().set_current_seed(c.seed * 1000003ULL + 7919ULL * comm_->rank() +
                                            static_cast<uint64_t>(state_.step));
    }
  }
  if (leader()) {
    metrics_ =
        std::make_unique<MetricsLog>(run_dir + "/metrics.csv", resumed_, state_.step, state_.stage);
  }
  first_step_ = state_.step;
  start_ = Clock::now();
  meter_.restart();
}

void TrainingSession::restore(const Checkpoint& ck, const std::string& source) {
  load_state_dict(*model_, ck.model, source);
  load_optimizer_bytes(adam_, ck.optimizer, source);
  augment_.generator().set_state(ck.augment_rng);
  state_.epoch = ck.epoch;
  state_.batch = ck.batch_in_epoch;
  state_.step = ck.step;
  state_.seconds_before = ck.train_seconds;
  state_.best_acc = ck.best_acc;
  state_.losses = {ck.loss_sums[0], ck.loss_sums[1], ck.loss_sums[2], ck.loss_sums[3],
                   ck.loss_steps};
  state_.stage = ck.stage;
  state_.stage_start_step = ck.stage_start_step;
  state_.stage_start_seconds = ck.stage_start_seconds;
  if (ck.stage == 2) {
    stop_.begin_selflabel_stage(ck.stage_start_step, ck.stage_start_seconds);
    if (ck.pseudo_counts.defined()) pseudo_.load(ck.pseudo_counts, source);
  }
  log_info(c10::str("resuming ", run_dir_, " at epoch ", state_.epoch + 1, ", batch ", state_.batch,
                    ", step ", state_.step, ck.stage == 2 ? " (self-labelling stage)" : ""));
}

double TrainingSession::elapsed() const {
  return state_.seconds_before + std::chrono::duration<double>(Clock::now() - start_).count();
}

StopPolicy::Reason TrainingSession::agreed_check() {
  const StopPolicy::Reason own = stop_.check(state_.step, elapsed());
  shared_elapsed_ = elapsed();
  if (comm_ == nullptr) return own;
  torch::Tensor t = torch::tensor({static_cast<double>(own), shared_elapsed_}, torch::kFloat64);
  comm_->broadcast({t}, 0);
  shared_elapsed_ = t[1].item<double>();
  return static_cast<StopPolicy::Reason>(static_cast<int>(t[0].item<double>()));
}

bool TrainingSession::agreed(bool rank0_value) {
  if (comm_ == nullptr) return rank0_value;
  torch::Tensor t = torch::tensor({rank0_value ? 1 : 0}, torch::kInt64);
  comm_->broadcast({t}, 0);
  return t.item<int64_t>() != 0;
}

// Rank 0's parameters and buffers (BatchNorm statistics) on every rank.
void TrainingSession::synchronise_model() {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors;
  for (auto& p : model_->parameters()) tensors.push_back(p);
  for (auto& b : model_->buffers()) tensors.push_back(b);
  comm_->broadcast(tensors, 0);
}

// The cluster head over all images; data-parallel, each rank scores a contiguous shard of rank
// 0's model and the predictions and features are gathered.
EvalResult TrainingSession::evaluate_model() {
  if (comm_ == nullptr) {
    return evaluate(*model_, data_, image_size_, c_.eval_batch_size, c_.bf16, c_.channels_last,
                    /*keep_features=*/true);
  }
  synchronise_model();
  const int64_t n = data_.size(), w = comm_->size(), r = comm_->rank();
  InferenceOptions o;
  o.batch_size = c_.eval_batch_size;
  o.bf16 = c_.bf16;
  o.channels_last = c_.channels_last;
  o.features = true;
  o.embeddings = false;
  const ModelOutputs out =
      run_model(*model_, data_.images.slice(0, n * r / w, n * (r + 1) / w), image_size_, o);
  const torch::Tensor predictions = comm_->all_gather_rows(out.probabilities.argmax(1));
  const torch::Tensor features = comm_->all_gather_rows(out.features.to(torch::kFloat32));
  return evaluate_predictions(predictions, features, c_.clusters, data_.labels);
}

Checkpoint TrainingSession::snapshot(int64_t at_epoch, int64_t at_batch) {
  Checkpoint ck;
  ck.network = model_->options;
  ck.config = c_;
  ck.epoch = at_epoch;
  ck.batch_in_epoch = at_batch;
  ck.step = state_.step;
  ck.train_seconds = elapsed();
  ck.best_acc = state_.best_acc;
  ck.model = state_dict(*model_);
  ck.optimizer = optimizer_bytes(adam_);
  ck.augment_rng = augment_.generator().get_state();
  const LossSums& l = state_.losses;
  ck.loss_sums = {l.total, l.instance, l.cluster, l.entropy};
  ck.loss_steps = l.steps;
  ck.stage = state_.stage;
  ck.stage_start_step = state_.stage_start_step;
  ck.stage_start_seconds = state_.stage_start_seconds;
  if (state_.stage == 2) ck.pseudo_counts = pseudo_.to_tensor();
  return ck;
}

TrainResult TrainingSession::run() {
  StopSignals signals;
  model_->train();
  for (;; ++state_.epoch, state_.batch = 0) {
    if (state_.stage == 1 && state_.epoch >= c_.epochs) {
      if (!stop_.has_selflabel_stage()) {
        if (neighbour_stage_pending() && !end_with_neighbour_stage(state_.epoch, 0)) {
          return result(TrainResult::Status::kInterrupted);
        }
        return result(TrainResult::Status::kFinished);
      }
      begin_selflabel_stage();
    }
    const torch::Tensor order = epoch_order(c_.seed, state_.epoch, data_.size());
    for (; state_.batch < batches_; ++state_.batch) {
      StopPolicy::Reason reason = agreed_check();
      if (state_.stage == 1 && stop_.has_selflabel_stage() && stage_budget_reached(reason)) {
        begin_selflabel_stage();
        reason = agreed_check();
      }
      if (reason != StopPolicy::Reason::kNone) return finish(reason);
      train_batch(order);
    }
    progress_.finish();
    const int64_t done = state_.epoch + 1;
    const bool last_epoch = state_.stage == 1 && done == c_.epochs;
    if (done % c_.eval_every == 0 || last_epoch) {
      evaluate_and_save(done, 0, /*final=*/last_epoch && !stop_.has_selflabel_stage() &&
                                     !neighbour_stage_pending());
    }
  }
}

bool TrainingSession::stage_budget_reached(StopPolicy::Reason reason) const {
  return reason == StopPolicy::Reason::kTimeBudget || reason == StopPolicy::Reason::kStepBudget;
}

// The contrastive stage has spent its budget: its last model is scored (unless the latest
// metrics row already did) and the self-labelling stage's budgets start now.
void TrainingSession::begin_selflabel_stage() {
  progress_.finish();
  if (agreed(leader() && metrics_->last_step() != state_.step)) {
    evaluate_and_save(state_.epoch, state_.batch, /*final=*/false);
  }
  state_.stage = 2;
  state_.stage_start_step = state_.step;
  state_.stage_start_seconds = elapsed();
  stop_.begin_selflabel_stage(state_.step, state_.stage_start_seconds);
  pseudo_.reset();
  log_info(c10::str("contrastive stage done at step ", state_.step,
                    "; self-labelling stage (threshold ", c_.selflabel_threshold, ", quota ",
                    c_.selflabel_quota, ", lr ", c_.selflabel_lr, ", entropy weight ",
                    c_.selflabel_entropy_weight, ")"));
}

void TrainingSession::train_batch(const torch::Tensor& order) {
  const int64_t b = state_.batch, n = c_.batch_size;
  const torch::Tensor index = order.slice(0, b * n, (b + 1) * n);  // the global batch
  const int64_t rank = comm_ == nullptr ? 0 : comm_->rank();
  const torch::Tensor shard = rank_shard(index, rank, comm_ == nullptr ? 1 : comm_->size());
  const torch::Tensor images = to_device(data_.images.index_select(0, shard), device_);
  const LossTerms loss =
      state_.stage == 2 ? self_label_batch(images, index) : step_.losses(augment_(images));
  const StepLosses values{loss.total.item<double>(), loss.instance.item<double>(),
                          loss.cluster.item<double>(), loss.entropy.item<double>()};
  if (!std::isfinite(values.total)) {
    progress_.finish();
    const std::string last = writer_.path("last");
    throw InputError(
        c10::str("the loss became ", values.total, " at epoch ", state_.epoch + 1, ", step ",
                 state_.step + 1, " (instance ", values.instance, ", cluster ", values.cluster,
                 "); training stopped. The last good checkpoint is ", last,
                 is_file(last) ? "" : " (none was written yet)", ". A lower --lr usually helps."));
  }
  state_.lr = state_.stage == 2
                  ? c_.selflabel_lr
                  : scheduled_lr(c_, budget_fraction(c_, state_.step, batches_, shared_elapsed_));
  step_.apply(loss, state_.lr);
  ++state_.step;
  state_.losses.add(values);
  meter_.add_images(n);
  show_progress(values);
}

// Pseudo-labels from the un-augmented images (of the global batch, `index`), then the stage's
// loss on their views.
LossTerms TrainingSession::self_label_batch(const torch::Tensor& images,
                                            const torch::Tensor& index) {
  const std::vector<torch::Tensor> views = augment_(images);
  torch::Tensor probabilities = step_.predict(eval_transform(images, image_size_));
  if (comm_ != nullptr) probabilities = comm_->all_gather(probabilities);
  const torch::Tensor labels =
      select_pseudo_labels(probabilities, c_.selflabel_threshold, c_.selflabel_quota);
  pseudo_.add(labels, data_.has_labels() ? data_.labels.index_select(0, index) : torch::Tensor());
  return step_.self_label_losses(views, labels, self_label_options(c_));
}

void TrainingSession::show_progress(const StepLosses& l) {
  if (!leader()) return;
  const double rate = meter_.segment_rate();
  const int64_t steps_left = (c_.epochs - state_.epoch) * batches_ - state_.batch - 1;
  const double eta =
      stop_.eta_seconds(steps_left, state_.step, c_.batch_size / std::max(rate, 1e-9), elapsed());
  const bool second = state_.stage == 2;
  progress_.update(c10::str(second ? "self-labelling, epoch " : "epoch ", state_.epoch + 1,
                            second ? "" : c10::str("/", c_.epochs), " step ", state_.step, " loss ",
                            fixed(l.total), " (inst ", fixed(l.instance, 3),
                            second ? ", ce " : ", clus ", fixed(l.cluster, 3), ") ", fixed(rate, 0),
                            " img/s, ETA ", format_duration(eta)));
}

void TrainingSession::evaluate_and_save(int64_t at_epoch, int64_t at_batch, bool final,
                                        EvalResult* ready) {
  const double train_rate = meter_.close_segment();
  if (leader() && ready == nullptr) {
    log_info(c10::str("step ", state_.step, ": evaluating on ", data_.size(), " images"));
  }
  // Features are kept so that, when the budget ends right after this evaluation, the final
  // report (k-means on them) does not evaluate the same model again.
  EvalResult ev = ready != nullptr ? std::move(*ready) : evaluate_model();
  last_eval_step_ = state_.step;
  const bool improved = ev.has_labels && ev.scores.acc > state_.best_acc;
  if (improved) state_.best_acc = ev.scores.acc;
  const double position = at_epoch + static_cast<double>(at_batch) / batches_;
  // The row first, then the checkpoint: a resume from an older checkpoint drops the rows
  // written after it, so no row is ever missing or repeated.
  if (leader()) {
    metrics_->append(position, state_.step, elapsed(), state_.losses, train_rate, ev, state_.lr,
                     state_.stage, state_.stage == 2 ? &pseudo_ : nullptr);
  }
  const double mean_loss = state_.losses.means().total;
  state_.losses = {};
  const std::string pseudo = state_.stage == 2 ? "; " + pseudo_.summary() : "";
  pseudo_.reset();
  if (leader()) writer_.save(snapshot(at_epoch, at_batch), improved || !ev.has_labels);
  log_info(c10::str("epoch ", fixed(position, 2), " step ", state_.step, ": loss ",
                    fixed(mean_loss), ", ", ev.summary(), pseudo));
  if (leader() && ev.collapsing(c_.clusters)) {
    log_warning(c10::str("the clusters are collapsing: ", ev.summary(),
                         " (try a larger --entropy-weight or --lr lower)"));
  }
  if (final) write_final(ev);
  meter_.restart();
  last_eval_ = std::move(ev);
}

void TrainingSession::write_final(const EvalResult& ev) {
  if (!leader()) return;
  FinalReportInfo info;
  info.step = state_.step;
  info.train_seconds = elapsed();
  info.training_images_per_second = meter_.session_rate();
  info.clusters = c_.clusters;
  info.seed = c_.seed;
  write_final_report(run_dir_ + "/final.json", ev, data_.labels, info);
}

// The run's last stage, after its training budgets: the trained network's features of all
// images (from the latest evaluation when it scored this model), the neighbour stage, and the
// final evaluation of its head. The model that ends training is checkpointed first, so that a
// run stopped during the stage resumes into the stage alone.
bool TrainingSession::end_with_neighbour_stage(int64_t at_epoch, int64_t at_batch) {
  progress_.finish();
  if (last_eval_step_ != state_.step) {
    if (agreed(leader() && metrics_->last_step() != state_.step)) {
      evaluate_and_save(at_epoch, at_batch, /*final=*/false);
    } else {  // resumed from the checkpoint of this step, which has its metrics row
      last_eval_ = evaluate_model();
      last_eval_step_ = state_.step;
    }
  }
  EvalResult ev;
  try {
    ev = run_neighbour_stage(last_eval_);
  } catch (const NeighbourStageInterrupted&) {
    progress_.finish();
    log_info(c10::str("stopped during the neighbour stage; the checkpoint of step ", state_.step,
                      " is kept. Continue with: dcacn train --resume ", run_dir_));
    return false;
  }
  evaluate_and_save(at_epoch, at_batch, /*final=*/true, &ev);
  return true;
}

EvalResult TrainingSession::run_neighbour_stage(const EvalResult& before) {
  const auto start = Clock::now();
  TORCH_CHECK(before.features.defined(), "the neighbour stage needs the evaluation's features");
  const torch::Tensor features = before.features.to(device_, torch::kFloat32);
  const bool pixels = c_.neighbour_space == "pixels";
  log_info(c10::str("neighbour stage: mining the ", c_.neighbour_k, " nearest neighbours of ",
                    data_.size(), " images in ", pixels ? "pixel" : "feature", " space"));
  NeighbourOptions mine;
  mine.k = std::min<int64_t>(c_.neighbour_k, data_.size() - 1);
  mine.centre = pixels;
  const torch::Tensor space = pixels ? pixel_space(data_.images, device_) : features;
  auto show = [this](const std::string& what, int64_t done, int64_t all) {
    if (leader()) progress_.update(c10::str(what, " ", done, "/", all));
  };
  const torch::Tensor neighbours = nearest_neighbours(
      space, mine, [&](int64_t done, int64_t all) { show("neighbours: images", done, all); });
  progress_.finish();
  if (leader() && data_.has_labels()) {
    log_info(
        c10::str("neighbour stage: ", fixed(neighbour_purity(neighbours.cpu(), data_.labels), 4),
                 " of the neighbours share their image's class (labels used for this log "
                 "line only)"));
  }
  const NeighbourHeadOptions o = neighbour_head_options(c_);
  NeighbourHeadResult trained = train_neighbour_heads(
      features, neighbours, model_->cluster_head->options, o, [&](int64_t done, int64_t all) {
        show(c10::str("neighbour stage: ", o.heads, " heads, epoch"), done, all);
        if (agreed(leader() && stop_.interrupted())) throw NeighbourStageInterrupted();
      });
  progress_.finish();
  std::string losses;
  for (size_t h = 0; h < trained.total.size(); ++h) {
    losses += c10::str(h == 0 ? "" : ", ", fixed(trained.consistency[h], 4));
  }
  {
    torch::NoGradGuard no_grad;
    auto target = model_->cluster_head->parameters();
    auto source = trained.head->parameters();
    for (size_t i = 0; i < target.size(); ++i) target[i].copy_(source[i]);
  }
  state_.stage = 3;
  state_.stage_start_step = state_.step;
  state_.stage_start_seconds = elapsed();
  state_.losses = {};
  const int64_t chosen = trained.chosen;
  state_.losses.add(
      {trained.total[chosen], 0, trained.consistency[chosen], trained.entropy[chosen]});
  torch::Tensor predictions;
  {
    torch::NoGradGuard no_grad;  // the head has no layer that trains differently
    predictions = model_->cluster_head->forward(features).argmax(1).cpu();
  }
  EvalResult after = evaluate_predictions(predictions, before.features, c_.clusters, data_.labels);
  log_info(c10::str("neighbour stage: kept head ", chosen, " of ", o.heads,
                    " (consistency per head: ", losses, "); ",
                    fixed(std::chrono::duration<double>(Clock::now() - start).count(), 0), " s"));
  return after;
}

TrainResult TrainingSession::finish(StopPolicy::Reason reason) {
  progress_.finish();
  if (reason == StopPolicy::Reason::kInterrupted) {
    if (leader()) writer_.save_last(snapshot(state_.epoch, state_.batch));
    log_info(c10::str("stopped at epoch ", state_.epoch + 1, ", batch ", state_.batch,
                      "; continue with: dcacn train --resume ", run_dir_));
    return result(TrainResult::Status::kInterrupted);
  }
  if (neighbour_stage_pending()) {
    if (!end_with_neighbour_stage(state_.epoch, state_.batch)) {
      return result(TrainResult::Status::kInterrupted);
    }
  } else if (last_eval_step_ == state_.step) {
    write_final(last_eval_);  // an epoch's evaluation has just scored and saved this model
  } else {
    evaluate_and_save(state_.epoch, state_.batch, /*final=*/true);
  }
  log_info(stop_.describe(reason));
  return result(TrainResult::Status::kBudgetReached);
}

TrainResult TrainingSession::result(TrainResult::Status status) const {
  if (comm_ != nullptr && session_steps() > 0) {
    const CommStats& s = comm_->stats();
    const double steps = static_cast<double>(session_steps());
    log_info(c10::str("communication per step (this session, evaluations included, ",
                      comm_->backend(), "): ", fixed(s.bytes_all_reduced / steps / 1e6, 2),
                      " MB all-reduced, ", fixed(s.bytes_all_gathered / steps / 1e6, 3),
                      " MB all-gathered, ", fixed(s.calls / steps, 1), " collectives, ",
                      fixed(s.seconds / steps * 1e3, 1), " ms in collectives"));
  }
  TrainResult r;
  r.status = status;
  r.epoch = state_.epoch;
  r.step = state_.step;
  r.train_seconds = elapsed();
  r.last_eval = last_eval_;
  return r;
}

}  // namespace

Trainer::Trainer(const TrainConfig& config, const std::string& run_dir)
    : config_(config), run_dir_(run_dir), dist_(dist_env_from_environment()) {
  DCACN_CHECK(!run_dir.empty(), "training needs an output folder (--out RUN_DIR)");
  // Rank 0 owns the run directory (and may be replacing an earlier run in it right now).
  DCACN_CHECK(dist_.rank != 0 || !is_file(checkpoint_path("last")), run_dir,
              " already holds a run (checkpoints/last.pt); continue it with --resume ", run_dir,
              " or choose another --out");
  config_.validate();
  stop_ = std::make_unique<StopPolicy>(config_);
}

Trainer::Trainer(const std::string& run_dir, const ResumeOverrides& overrides)
    : run_dir_(run_dir), dist_(dist_env_from_environment()) {
  const std::string last = checkpoint_path("last");
  DCACN_CHECK(is_file(last), "cannot resume ", run_dir, ": ", last, " not found");
  restored_ = std::make_unique<Checkpoint>(load_checkpoint(last));
  config_ = restored_->config;
  DCACN_CHECK(restored_->stage != 3, "the run in ", run_dir,
              " has finished: its neighbour stage replaced the cluster head at step ",
              restored_->step, "; start a new run to train further");
  const std::string changed = overrides.changed_selflabel_setting(config_);
  DCACN_CHECK(restored_->stage == 1 || changed.empty(), "cannot resume ", run_dir, " with ",
              changed, ": its self-labelling stage began at step ", restored_->stage_start_step,
              " and its settings are fixed from then on");
  overrides.apply(config_);
  config_.validate();
  stop_ = std::make_unique<StopPolicy>(config_);
  const Checkpoint& ck = *restored_;
  if (ck.stage == 2) stop_->begin_selflabel_stage(ck.stage_start_step, ck.stage_start_seconds);
  const StopPolicy::Reason reason = stop_->budget_reached(ck.step, ck.train_seconds);
  const bool epochs_done = ck.stage == 1 && ck.epoch >= config_.epochs;
  const bool stage_left =
      (ck.stage == 1 && stop_->has_selflabel_stage()) || config_.has_neighbour_stage();
  DCACN_CHECK(stage_left || (!epochs_done && reason == StopPolicy::Reason::kNone), "the run in ",
              run_dir, " has already ",
              epochs_done ? c10::str("trained its ", config_.epochs, " epochs")
                          : "reached its " + stop_->budget_name(reason),
              " (step ", ck.step, "); to continue it, give --resume a larger ",
              ck.stage == 2 ? "--selflabel-steps or --selflabel-minutes"
                            : "--epochs, --max-steps or --time-budget");
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
  if (dist_.rank == 0) {
    fs::create_directories(run_dir_ + "/checkpoints");
    write_file_atomic(run_dir_ + "/config.json", config_.to_json().dump(2) + "\n");
  }
  TrainingSession session(config_, run_dir_, restored_.get(), *stop_, dist_, comm_options_);
  restored_.reset();  // the session holds what it needs; the weights need not stay twice
  return session.run();
}

}  // namespace dcacn
