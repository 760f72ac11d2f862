#include "dcacn/train/session.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <numeric>

#include "dcacn/augment/multicrop.h"
#include "dcacn/data/registry.h"
#include "dcacn/infer/inference.h"
#include "dcacn/metrics/neighbour_purity.h"
#include "dcacn/model/pretrained.h"
#include "dcacn/model/state_dict.h"
#include "dcacn/run/setup.h"
#include "dcacn/train/train_step.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/log.h"

namespace dcacn {
namespace {

using Clock = std::chrono::steady_clock;

// The order of the samples in an epoch: a function of the seed and the epoch only, so that a
// resumed run sees the same order.
torch::Tensor epoch_order(uint64_t seed, int64_t epoch, int64_t n) {
  at::Generator gen =
      at::detail::createCPUGenerator(seed * 1000003ULL + static_cast<uint64_t>(epoch) + 1);
  return torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kInt64));
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
  // The initialisation draws from LibTorch's global generator: ranks run as threads of one
  // process (tests) take turns, so that each gets the draws of its seed.
  static std::mutex global_generator;
  std::lock_guard<std::mutex> lock(global_generator);
  torch::manual_seed(c.seed);
  DCACN model(options);
  if (c.channels_last) to_channels_last(*model);
  model->to(device);
  return model;
}

bool is_budget(StopPolicy::Reason reason) {
  return reason == StopPolicy::Reason::kTimeBudget || reason == StopPolicy::Reason::kStepBudget ||
         reason == StopPolicy::Reason::kRunBudget;
}

}  // namespace

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

TrainState restored_state(const Checkpoint& ck, const std::string& source) {
  TrainState s;
  s.epoch = ck.epoch;
  s.batch = ck.batch_in_epoch;
  s.step = ck.step;
  s.seconds_before = ck.train_seconds;
  s.losses = {ck.loss_sums[0], ck.loss_sums[1], ck.loss_sums[2], ck.loss_sums[3], ck.loss_steps};
  s.stage_start_step = ck.stage_start_step;
  s.stage_start_seconds = ck.stage_start_seconds;
  s.weights_from = static_cast<StageKind>(ck.stage);
  if (ck.format_version >= 4) {
    s.stage_index = ck.stage_index;
    s.stage_started = ck.stage_started;
    s.stage_start_epoch = ck.stage_start_epoch;
    return s;
  }
  // Versions 1-3: contrastive, then self-labelling when configured, then the neighbour stage
  // when configured (legacy_pipeline_text); stage 3 means all done.
  const Pipeline pipeline = build_pipeline(ck.config);
  s.stage_started = ck.stage != 3;
  s.stage_index = ck.stage == 1 ? 0 : ck.stage == 2 ? 1 : static_cast<int64_t>(pipeline.size());
  DCACN_CHECK(
      ck.stage != 2 || (pipeline.size() > 1 && pipeline[1]->kind() == StageKind::kSelfLabel),
      source, " is in a self-labelling stage its configuration does not have");
  return s;
}

TrainingSession::TrainingSession(const TrainConfig& c, const std::string& run_dir,
                                 const Checkpoint* restored, StopPolicy& stop, const DistEnv& dist,
                                 const CommunicatorOptions& comm_options)
    : c_(c),
      run_dir_(run_dir),
      resumed_(restored != nullptr),
      stop_(stop),
      stages_(build_pipeline(c)),
      device_(rank_device(pick_device(c.device), dist)),
      comm_(dist.distributed() ? std::make_unique<Communicator>(dist, device_, comm_options)
                               : nullptr),
      local_batch_(shard_batch(c, dist)),
      data_(load_training_data(c)),
      images_{data_.images, data_.name},
      image_size_(view_spec(c).global.front().size),
      model_(build_network(network_options(c, data_, image_size_, restored), c, device_)),
      writer_(run_dir, c.keep_epoch_checkpoints),
      batches_(data_.size() / c.batch_size) {
  if (restored == nullptr && !c.init_weights.empty()) {
    const PretrainedReport report =
        load_torchvision_resnet(*model_->backbone, read_state_dict(c.init_weights), c.init_weights);
    if (leader()) log_info(c10::str("backbone from ", c.init_weights, ": ", report.summary()));
  }
  const MultiCropSpec views = view_spec(c);
  adam_ = std::make_unique<torch::optim::Adam>(
      model_->parameters(), torch::optim::AdamOptions(c.lr).weight_decay(c.weight_decay));
  augment_ = std::make_unique<MultiCropAugmenter>(views, c.seed);
  step_ = std::make_unique<TrainStep>(
      model_, *adam_,
      TrainStepOptions{local_batch_, static_cast<int64_t>(views.global.size()), loss_options(c),
                       c.bf16, c.channels_last, comm_.get()});
  log_info(c10::str("training on ", data_.name, ": ", data_.size(), " images, views ",
                    views.describe(), ", device ", device_.str(), c.bf16 ? ", bf16 autocast" : ""));
  log_info("stages: " + pipeline_text(stages_));
  if (!c.stages.empty() && c.time_budget_minutes > 0) {
    run_seconds_ = c.time_budget_minutes * 60.0;
    log_info(c10::str("time budget: ", c.time_budget_minutes,
                      " min for the whole run, every stage and the final scoring included"));
  }
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
  }
  if (leader()) {
    const int64_t stage_code = static_cast<int64_t>(state_.weights_from);
    metrics_ = std::make_unique<MetricsLog>(run_dir + "/metrics.csv", resumed_,
                                            restored != nullptr ? restored->metrics_rows : -1,
                                            state_.step, stage_code);
  }
  first_step_ = state_.step;
  start_ = Clock::now();
  meter_.restart();
}

TrainingSession::~TrainingSession() = default;

void TrainingSession::count_time_from(Clock::time_point t) { start_ = std::min(start_, t); }

void TrainingSession::restore(const Checkpoint& ck, const std::string& source) {
  load_state_dict(*model_, ck.model, source);
  load_optimizer_bytes(*adam_, ck.optimizer, source);
  augment_->generator().set_state(ck.augment_rng);
  state_ = restored_state(ck, source);
  state_.lr = c_.lr;
  if (ck.format_version < 4) {  // the epoch its stage began in (or the next, begun inside one)
    state_.stage_start_epoch = (state_.stage_start_step + batches_ - 1) / batches_;
  }
  if (ck.pseudo_labels.defined()) {
    pseudo_index_.push_back(ck.pseudo_labels.select(1, 0));
    pseudo_labels_.push_back(ck.pseudo_labels.select(1, 1));
  }
  carried_pseudo_counts_ = ck.pseudo_counts;
  const bool inside = state_.stage_index < static_cast<int64_t>(stages_.size());
  if (inside && state_.stage_started) stages_[state_.stage_index]->restore(ck.stage_state, source);
  log_info(c10::str("resuming ", run_dir_, " at epoch ", state_.epoch + 1, ", batch ", state_.batch,
                    ", step ", state_.step,
                    inside ? c10::str(" (stage ", state_.stage_index + 1, " of ", stages_.size(),
                                      ", ", stages_[state_.stage_index]->describe(), ")")
                           : std::string(" (every stage done)")));
}

double TrainingSession::elapsed() const {
  return state_.seconds_before + std::chrono::duration<double>(Clock::now() - start_).count();
}

StopPolicy::Reason TrainingSession::agreed_check(const Stage& stage) {
  shared_elapsed_ = elapsed();
  StopPolicy::Reason own =
      stop_.check(stage.budget(), steps_in_stage(), seconds_in_stage(), state_.step);
  if (run_seconds_ > 0 && leader()) {
    double reserve = reserve_seconds();
    // The later stages were timed at the start, and a 2-core machine's speed drifts over a long
    // stage (1.6x within minutes): they are timed again once the stage is within a reserve's
    // length of its end.
    if (retimed_stage_ != state_.stage_index && shared_elapsed_ + 2 * reserve >= run_seconds_) {
      retimed_stage_ = state_.stage_index;
      for (size_t i = state_.stage_index + 1; i < stages_.size(); ++i) stages_[i]->retime();
      const std::string before = fixed(reserve, 0);
      reserve = reserve_seconds();
      log_info(c10::str("time budget: timed again near the stage's end (it was ", before,
                        " s): ", reserve_text(), ")"));
    }
    if (own == StopPolicy::Reason::kNone && shared_elapsed_ + reserve >= run_seconds_) {
      own = StopPolicy::Reason::kRunBudget;
    }
  }
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

bool TrainingSession::stop_requested() {
  return agreed(leader() && stop_.interrupted(state_.step));
}

void TrainingSession::share_statistics() {
  if (comm_ == nullptr) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> buffers;
  for (auto& b : model_->buffers()) buffers.push_back(b);
  comm_->broadcast(buffers, 0);
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
  const auto start = Clock::now();
  EvalResult ev = evaluate_all();
  eval_seconds_ = std::chrono::duration<double>(Clock::now() - start).count();
  return ev;
}

EvalResult TrainingSession::evaluate_all() {
  if (comm_ == nullptr) {
    return evaluate(*model_, data_, image_size_, c_.eval_batch_size, c_.bf16, c_.channels_last,
                    /*keep_features=*/true);
  }
  synchronise_model();
  const int64_t n = data_.size(), w = comm_->size(), r = comm_->rank();
  const InferenceOptions o = eval_inference_options();
  const ModelOutputs out =
      run_model(*model_, data_.images.slice(0, n * r / w, n * (r + 1) / w), image_size_, o);
  const torch::Tensor probabilities = comm_->all_gather_rows(out.probabilities.to(torch::kFloat32));
  const torch::Tensor features = comm_->all_gather_rows(out.features.to(torch::kFloat32));
  EvalResult ev = evaluate_predictions(probabilities.argmax(1), features,
                                       model_->options.clusters(), data_.labels);
  ev.probabilities = probabilities;
  return ev;
}

const EvalResult& TrainingSession::current_outputs() {
  if (last_eval_step_ != state_.step || !last_eval_.features.defined() ||
      !last_eval_.probabilities.defined()) {
    last_eval_ = evaluate_model();
    last_eval_step_ = state_.step;
  }
  return last_eval_;
}

torch::Tensor TrainingSession::features() { return current_outputs().features; }

torch::Tensor TrainingSession::probabilities() { return current_outputs().probabilities; }

Checkpoint TrainingSession::snapshot(int64_t at_epoch, int64_t at_batch) {
  Checkpoint ck;
  ck.network = model_->options;
  ck.config = c_;
  ck.epoch = at_epoch;
  ck.batch_in_epoch = at_batch;
  ck.step = state_.step;
  ck.train_seconds = elapsed();
  ck.model = state_dict(*model_);
  ck.optimizer = optimizer_bytes(*adam_);
  ck.augment_rng = augment_->generator().get_state();
  const LossSums& l = state_.losses;
  ck.loss_sums = {l.total, l.instance, l.cluster, l.entropy};
  ck.loss_steps = l.steps;
  ck.stage = static_cast<int64_t>(state_.weights_from);
  ck.stage_start_step = state_.stage_start_step;
  ck.stage_start_seconds = state_.stage_start_seconds;
  ck.pipeline = pipeline_text(stages_);
  ck.stage_index = state_.stage_index;
  ck.stage_started = state_.stage_started;
  ck.stage_start_epoch = state_.stage_start_epoch;
  ck.metrics_rows = metrics_ != nullptr ? metrics_->rows() : 0;
  if (!pseudo_index_.empty()) {
    ck.pseudo_labels =
        torch::stack({torch::cat(pseudo_index_).cpu(), torch::cat(pseudo_labels_).cpu()}, 1);
  }
  ck.pseudo_counts = carried_pseudo_counts_;
  if (state_.stage_started && state_.stage_index < static_cast<int64_t>(stages_.size())) {
    ck.stage_state = stages_[state_.stage_index]->state();
  }
  return ck;
}

bool TrainingSession::last_stage() const {
  return state_.stage_index + 1 >= static_cast<int64_t>(stages_.size());
}

TrainResult TrainingSession::run() {
  model_->train();
  StageEnd stepwise_end = StageEnd::kEpochs;  // of the last stepwise stage
  if (c_.eval_every_minutes > 0) {
    const double every = c_.eval_every_minutes * 60.0;
    next_eval_seconds_ = every * (std::floor(elapsed() / every) + 1);
  }
  if (run_seconds_ > 0 && leader() && state_.stage_index < static_cast<int64_t>(stages_.size())) {
    log_info(c10::str("time budget: ", reserve_text(),
                      "; estimated from timings of small pieces of their work)"));
  }
  while (state_.stage_index < static_cast<int64_t>(stages_.size())) {
    Stage& stage = *stages_[state_.stage_index];
    if (!state_.stage_started) begin_stage(stage);
    const StageEnd end = stage.stepwise() ? train_stage(stage) : run_whole_stage(stage);
    if (end == StageEnd::kInterrupted) return result(TrainResult::Status::kInterrupted);
    if (stage.stepwise()) {
      stepwise_end = end;
      ++state_.stage_index;
      state_.stage_started = false;
    }
  }
  if (!final_written_) {
    // Every stage was done when this session began: score the model as it stands.
    if (last_eval_step_ != state_.step) {
      last_eval_ = evaluate_model();
      last_eval_step_ = state_.step;
    }
    write_final(last_eval_);
  }
  return result(stepwise_end == StageEnd::kBudget ? TrainResult::Status::kBudgetReached
                                                  : TrainResult::Status::kFinished);
}

void TrainingSession::begin_stage(Stage& stage) {
  progress_.finish();
  state_.stage_started = true;
  state_.stage_start_step = state_.step;
  // A new run's clock starts with its first stage.
  state_.stage_start_seconds = state_.step == 0 && state_.stage_index == 0 ? 0.0 : elapsed();
  state_.stage_start_epoch = state_.batch == 0 ? state_.epoch : state_.epoch + 1;
  if (stages_.size() > 1) {
    log_info(c10::str("stage ", state_.stage_index + 1, " of ", stages_.size(), " at step ",
                      state_.step, ": ", stage.describe()));
  }
  stage.begin(*this);
}

bool TrainingSession::epochs_spent(const Stage& stage) const {
  const int64_t epochs = stage.budget().epochs();
  return epochs > 0 && state_.epoch >= state_.stage_start_epoch + epochs;
}

TrainingSession::StageEnd TrainingSession::train_stage(Stage& stage) {
  state_.weights_from = stage.kind();
  const int64_t epochs = stage.budget().epochs();
  for (;; ++state_.epoch, state_.batch = 0) {
    if (epochs_spent(stage)) return end_stage(stage, StopPolicy::Reason::kNone, state_.epoch, 0);
    const torch::Tensor order = epoch_order(c_.seed, state_.epoch, data_.size());
    for (; state_.batch < batches_; ++state_.batch) {
      const StopPolicy::Reason reason = agreed_check(stage);
      if (is_budget(reason)) return end_stage(stage, reason, state_.epoch, state_.batch);
      if (reason == StopPolicy::Reason::kInterrupted) {
        progress_.finish();
        if (leader()) writer_.save_last(snapshot(state_.epoch, state_.batch));
        interrupted(c10::str("at epoch ", state_.epoch + 1, ", batch ", state_.batch));
        return StageEnd::kInterrupted;
      }
      train_batch(stage, order);
      if (c_.eval_every_minutes > 0 && state_.batch + 1 < batches_ && periodic_eval_due()) {
        progress_.finish();
        evaluate_and_save(state_.epoch, state_.batch + 1, /*final=*/false, nullptr,
                          /*sample=*/true);
      }
    }
    progress_.finish();
    const int64_t done = state_.epoch + 1;
    const bool stage_end = epochs > 0 && done == state_.stage_start_epoch + epochs;
    if (stage_end) {
      evaluate_and_save(done, 0, /*final=*/last_stage());
    } else if (c_.eval_every_minutes > 0 ? periodic_eval_due() : done % c_.eval_every == 0) {
      evaluate_and_save(done, 0, /*final=*/false, nullptr, /*sample=*/true);
    }
  }
}

// A stepwise stage has spent its budget: its last model is scored and saved (unless the latest
// evaluation or metrics row already did), so that the next stage starts from a checkpoint.
TrainingSession::StageEnd TrainingSession::end_stage(Stage& stage, StopPolicy::Reason reason,
                                                     int64_t at_epoch, int64_t at_batch) {
  progress_.finish();
  const bool last = last_stage();
  if (last_eval_step_ != state_.step) {
    // A stage's end is scored on every image, also when a periodic evaluation on a sample
    // has just written this step's row.
    if (agreed(leader() &&
               (metrics_->last_step() != state_.step || sampled_step_ == state_.step))) {
      evaluate_and_save(at_epoch, at_batch, /*final=*/last);
    } else if (last) {  // resumed from the checkpoint of this step, which has its metrics row
      last_eval_ = evaluate_model();
      last_eval_step_ = state_.step;
    }
  }
  // The stage's own end (its guard may undo it): the network it leaves gets a row of its own.
  if (stage.end(*this)) {
    last_eval_step_ = -1;
    evaluate_and_save(at_epoch, at_batch, /*final=*/last);
  }
  if (last && !final_written_) write_final(last_eval_);
  log_info(c10::str(stage_kind_name(stage.kind()), " stage done at step ", state_.step, ": ",
                    reason == StopPolicy::Reason::kNone
                        ? c10::str(stage.budget().epochs(), " epochs trained")
                        : StopPolicy::describe(stage.budget(), reason)));
  return reason == StopPolicy::Reason::kNone ? StageEnd::kEpochs : StageEnd::kBudget;
}

// A whole stage: run at once; the checkpoint from before it stays the last when it is
// interrupted. Its result is scored and saved as the position after it.
TrainingSession::StageEnd TrainingSession::run_whole_stage(Stage& stage) {
  progress_.finish();
  WholeStageResult out;
  try {
    out = stage.run(*this);
  } catch (const StageInterrupted&) {
    interrupted(c10::str("during stage ", state_.stage_index + 1, " (",
                         stage_kind_name(stage.kind()), "); the checkpoint of step ", state_.step,
                         " is kept"));
    return StageEnd::kInterrupted;
  }
  const bool last = last_stage();
  ++state_.stage_index;
  state_.stage_started = false;
  state_.stage_start_step = state_.step;
  state_.stage_start_seconds = elapsed();
  state_.weights_from = stage.kind();
  state_.losses = {};
  state_.losses.add({out.total, 0, out.consistency, out.entropy});
  EvalResult ev =
      evaluate_predictions(out.predictions, out.features, model_->options.clusters(), data_.labels);
  evaluate_and_save(state_.epoch, state_.batch, /*final=*/last, &ev);
  return StageEnd::kDone;
}

void TrainingSession::train_batch(Stage& stage, const torch::Tensor& order) {
  const int64_t b = state_.batch, n = c_.batch_size;
  const torch::Tensor index = order.slice(0, b * n, (b + 1) * n);  // the global batch
  const int64_t rank = comm_ == nullptr ? 0 : comm_->rank();
  const torch::Tensor shard = rank_shard(index, rank, comm_ == nullptr ? 1 : comm_->size());
  const torch::Tensor images = to_device(data_.images.index_select(0, shard), device_);
  if (rank > 0) {
    // Each rank draws its own views; rank 0 continues the run's stream (which the checkpoint
    // keeps), the others draw from the step, so that a resumed run draws what it would have.
    augment_->generator().set_current_seed(c_.seed * 1000003ULL + 7919ULL * rank +
                                           static_cast<uint64_t>(state_.step));
  }
  const LossTerms loss = stage.batch_losses(*this, images, index);
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
  state_.lr = stage.learning_rate(*this);
  step_->apply(loss, state_.lr);
  ++state_.step;
  state_.losses.add(values);
  meter_.add_images(n);
  show_step(stage, values);
}

void TrainingSession::record_pseudo_labels(const torch::Tensor& index,
                                           const torch::Tensor& labels) {
  pseudo_index_.push_back(index.to(torch::kCPU, torch::kInt64));
  pseudo_labels_.push_back(labels.to(torch::kCPU, torch::kInt64));
}

void TrainingSession::record_neighbours(const std::string& key, const torch::Tensor& neighbours,
                                        double seconds) {
  const std::string space = key.substr(0, key.find(':'));
  for (auto it = neighbours_.begin(); it != neighbours_.end();) {
    it = it->first.rfind(space + ":", 0) == 0 ? neighbours_.erase(it) : std::next(it);
  }
  neighbours_[key] = neighbours;
  if (!leader()) return;
  log_info(c10::str(
      "neighbours (", key, ") mined in ", fixed(seconds, 1), " s",
      data_.has_labels()
          ? c10::str(": ", fixed(neighbour_purity(neighbours, data_.labels), 4),
                     " of them share their image's class (labels used for this log line only)")
          : std::string()));
}

torch::Tensor TrainingSession::cached_neighbours(const std::string& key) const {
  const auto it = neighbours_.find(key);
  return it == neighbours_.end() ? torch::Tensor() : it->second;
}

void TrainingSession::replace_cluster_head(ClusterHead head) {
  model_->replace_cluster_head(head);
  // Adam's state is keyed by the parameters' identity; the old head's would linger under
  // addresses that new tensors may reuse. It starts afresh on the network's parameters.
  adam_->state().clear();
  adam_->param_groups().at(0).params() = model_->parameters();
}

void TrainingSession::write_run_file(const std::string& name, const std::string& text) {
  if (leader()) write_file_atomic(run_dir_ + "/" + name, text);
}

PseudoLabelStats TrainingSession::pseudo_label_stats() const {
  PseudoLabelStats stats(model_->options.clusters(), data_.has_labels() ? data_.num_classes() : 0);
  if (carried_pseudo_counts_.defined()) stats.load(carried_pseudo_counts_, writer_.path("last"));
  for (size_t i = 0; i < pseudo_index_.size(); ++i) {
    stats.add(pseudo_labels_[i], data_.has_labels() ? data_.labels.index_select(0, pseudo_index_[i])
                                                    : torch::Tensor());
  }
  return stats;
}

void TrainingSession::show_progress(const std::string& line) {
  if (leader()) progress_.update(line);
}

void TrainingSession::show_step(const Stage& stage, const StepLosses& l) {
  if (!leader()) return;
  const double rate = meter_.segment_rate();
  const double eta = eta_seconds(c_.batch_size / std::max(rate, 1e-9));
  const int64_t epochs = stage.budget().epochs();
  const std::string where =
      stages_.size() > 1 ? c10::str("[", state_.stage_index + 1, "/", stages_.size(), "] ") : "";
  progress_.update(c10::str(
      where, stage.progress_name(), " ", state_.epoch + 1,
      epochs > 0 ? c10::str("/", state_.stage_start_epoch + epochs) : "", " step ", state_.step,
      " loss ", fixed(l.total), " (inst ", fixed(l.instance, 3), ", ", stage.second_loss_name(),
      " ", fixed(l.cluster, 3), ") ", fixed(rate, 0), " img/s, ETA ", format_duration(eta)));
}

double TrainingSession::reserve_seconds() {
  // The current stage's last evaluations, the later stages, and what the caller does after the
  // run.
  return end_evaluations_seconds(*stages_[state_.stage_index]) + later_stages_seconds();
}

double TrainingSession::end_evaluations_seconds(const Stage& stage) {
  return eval_estimate() * (stage.end_replaces_network() ? 2 : 1);
}

// Its parts, so that a run that ends early or cuts a stage short shows which estimate erred.
std::string TrainingSession::reserve_text() {
  const Stage& stage = *stages_[state_.stage_index];
  std::string parts =
      c10::str(stage.end_replaces_network() ? "its evaluations " : "its evaluation ",
               fixed(end_evaluations_seconds(stage), 0), " s");
  const std::vector<double> later = later_stage_estimates();
  for (size_t i = 0; i < later.size(); ++i) {
    parts += c10::str(", stage ", state_.stage_index + 2 + static_cast<int64_t>(i), " ",
                      fixed(later[i], 0), " s");
  }
  if (stop_.after_run_seconds() > 0)
    parts += c10::str(", after the run ", fixed(stop_.after_run_seconds(), 0), " s");
  return c10::str(fixed(reserve_seconds(), 0), " s of it kept for what follows the current stage (",
                  parts);
}

std::vector<double> TrainingSession::later_stage_estimates() {
  std::vector<double> seconds;
  for (size_t i = state_.stage_index + 1; i < stages_.size(); ++i) {
    Stage& s = *stages_[i];
    seconds.push_back(s.stepwise() ? end_evaluations_seconds(s) : s.estimate_seconds(*this));
  }
  return seconds;
}

double TrainingSession::later_stages_seconds() {
  const std::vector<double> later = later_stage_estimates();
  return std::accumulate(later.begin(), later.end(), stop_.after_run_seconds());
}

double TrainingSession::seconds_left() {
  double left = std::numeric_limits<double>::infinity();
  // A whole stage's scoring after it reuses its predictions and features (no evaluation of the
  // network), so only the later stages and the caller's time are kept.
  if (run_seconds_ > 0 && leader()) left = run_seconds_ - elapsed() - later_stages_seconds();
  if (comm_ == nullptr) return left;
  torch::Tensor t = torch::tensor({left}, torch::kFloat64);
  comm_->broadcast({t}, 0);
  return t.item<double>();
}

// The latest evaluation's time; before the first, that of two batches (after one untimed) or of
// the latest evaluation on the sample, scaled to this rank's share of the images.
double TrainingSession::eval_estimate() {
  if (eval_seconds_ > 0) return eval_seconds_;
  if (eval_calibration_ < 0) {
    const int64_t n = data_.size(), m = std::min(n, 2 * c_.eval_batch_size);
    const InferenceOptions o = eval_inference_options();
    run_model(*model_, data_.images.slice(0, 0, std::min(n, c_.eval_batch_size)), image_size_, o);
    const auto start = Clock::now();
    run_model(*model_, data_.images.slice(0, 0, m), image_size_, o);
    eval_calibration_ = scaled_to_a_share(start, m);
  }
  return eval_calibration_;
}

// What an evaluation of `images` that began at `start` says one of this rank's share of every
// image takes.
double TrainingSession::scaled_to_a_share(Clock::time_point start, int64_t images) const {
  const double ranks = comm_ == nullptr ? 1.0 : static_cast<double>(comm_->size());
  return std::chrono::duration<double>(Clock::now() - start).count() *
         static_cast<double>(data_.size()) / (static_cast<double>(images) * ranks);
}

InferenceOptions TrainingSession::eval_inference_options() const {
  InferenceOptions o;
  o.batch_size = c_.eval_batch_size;
  o.bf16 = c_.bf16;
  o.channels_last = c_.channels_last;
  o.features = true;
  o.embeddings = false;
  return o;
}

// The stepwise stages' budgets left, the current one's from where it stands, at
// `seconds_per_step`; whole stages are not counted. A run-budget run: the budget left.
double TrainingSession::eta_seconds(double seconds_per_step) const {
  if (run_seconds_ > 0) return std::max(0.0, run_seconds_ - elapsed());
  double eta = 0;
  for (size_t i = state_.stage_index; i < stages_.size(); ++i) {
    const Stage& s = *stages_[i];
    if (!s.stepwise()) continue;
    const StageBudget& b = s.budget();
    const bool current = static_cast<int64_t>(i) == state_.stage_index;
    const double steps_done = current ? static_cast<double>(steps_in_stage()) : 0.0;
    const double seconds_done = current ? elapsed() - state_.stage_start_seconds : 0.0;
    double left = 1e300;
    if (b.steps() > 0) left = (b.steps() - steps_done) * seconds_per_step;
    if (b.epochs() > 0) {
      const double end = static_cast<double>((current ? state_.stage_start_epoch : 0) + b.epochs());
      const double steps_left =
          current ? (end - state_.epoch) * batches_ - state_.batch - 1 : end * batches_;
      left = std::min(left, steps_left * seconds_per_step);
    }
    if (b.limit_minutes() > 0) left = std::min(left, b.limit_minutes() * 60.0 - seconds_done);
    eta += std::max(0.0, left);
  }
  return eta;
}

// Minutes-based evaluations: due when the run's clock (rank 0's, agreed) has passed the next
// multiple of --eval-every-minutes.
bool TrainingSession::periodic_eval_due() {
  const double every = c_.eval_every_minutes * 60.0;
  if (shared_elapsed_ < next_eval_seconds_) return false;
  next_eval_seconds_ = every * (std::floor(shared_elapsed_ / every) + 1);
  return true;
}

bool TrainingSession::sampling() const {
  return c_.eval_images > 0 && c_.eval_images < data_.size();
}

// The periodic evaluations' fixed sample of --eval-images images (sampling() only), drawn and
// copied out once, from the run's seed.
EvalResult TrainingSession::evaluate_sample() {
  if (sample_.size() == 0) {
    at::Generator gen = at::detail::createCPUGenerator(c_.seed * 40503ULL + 29);
    const torch::Tensor index = std::get<0>(
        torch::randperm(data_.size(), gen, torch::kInt64).slice(0, 0, c_.eval_images).sort());
    sample_.images = data_.images.index_select(0, index);
    if (data_.has_labels()) sample_.labels = data_.labels.index_select(0, index);
    sample_.class_names = data_.class_names;
    sample_.name = data_.name;
  }
  if (comm_ != nullptr) synchronise_model();  // each rank scores the sample with rank 0's model
  const auto start = Clock::now();
  EvalResult ev = evaluate(*model_, sample_, image_size_, c_.eval_batch_size, c_.bf16,
                           c_.channels_last, /*keep_features=*/false);
  // Until a full evaluation is timed, the sample's scaled up.
  if (eval_seconds_ <= 0) eval_calibration_ = scaled_to_a_share(start, sample_.size());
  return ev;
}

void TrainingSession::evaluate_and_save(int64_t at_epoch, int64_t at_batch, bool final,
                                        EvalResult* ready, bool sample) {
  const double train_rate = meter_.close_segment();
  const bool part = sample && sampling();
  if (leader() && ready == nullptr) {
    log_info(c10::str("step ", state_.step, ": evaluating on ",
                      part ? c10::str("a sample of ", c_.eval_images) : c10::str(data_.size()),
                      " images"));
  }
  // Features are kept so that, when the budget ends right after this evaluation, the final
  // report (k-means on them) and a neighbour stage do not evaluate the same model again.
  EvalResult ev = ready != nullptr ? std::move(*ready)
                  : part           ? evaluate_sample()
                                   : evaluate_model();
  if (!part) last_eval_step_ = state_.step;
  const double position = at_epoch + static_cast<double>(at_batch) / batches_;
  const PseudoLabelStats pseudo = pseudo_label_stats();
  // A row with no self-labelling step since the last (a guard's row) has no statistics.
  const bool self_labelling = state_.weights_from == StageKind::kSelfLabel && pseudo.seen() > 0;
  // The row first, then the checkpoint: a resume from an older checkpoint drops the rows
  // written after it, so no row is ever missing or repeated.
  if (leader()) {
    metrics_->append(position, state_.step, elapsed(), state_.losses, train_rate, ev, state_.lr,
                     static_cast<int64_t>(state_.weights_from), self_labelling ? &pseudo : nullptr);
  }
  const double mean_loss = state_.losses.means().total;
  state_.losses = {};
  pseudo_index_.clear();
  pseudo_labels_.clear();
  carried_pseudo_counts_ = torch::Tensor();
  if (leader()) writer_.save(snapshot(at_epoch, at_batch));
  log_info(c10::str("epoch ", fixed(position, 2), " step ", state_.step, ": loss ",
                    fixed(mean_loss), ", ", ev.summary(),
                    self_labelling ? "; " + pseudo.summary() : ""));
  if (leader() && ev.collapsing(model_->options.clusters())) {
    log_warning(c10::str("the clusters are collapsing: ", ev.summary(),
                         " (try a larger --entropy-weight or --lr lower)"));
  }
  if (final) write_final(ev);
  meter_.restart();
  if (part) {
    sampled_step_ = state_.step;
  } else {
    last_eval_ = std::move(ev);
  }
}

void TrainingSession::write_final(const EvalResult& ev) {
  final_written_ = true;
  if (!leader()) return;
  FinalReportInfo info;
  info.step = state_.step;
  info.train_seconds = elapsed();
  info.training_images_per_second = meter_.session_rate();
  info.clusters = model_->options.clusters();
  info.seed = c_.seed;
  write_final_report(run_dir_ + "/final.json", ev, data_.labels, info);
}

void TrainingSession::interrupted(const std::string& where) {
  progress_.finish();
  log_info(c10::str("stopped ", where, "; continue with: dcacn train --resume ", run_dir_));
}

TrainResult TrainingSession::result(TrainResult::Status status) const {
  if (comm_ != nullptr && state_.step - first_step_ > 0) {
    const CommStats& s = comm_->stats();
    const double steps = static_cast<double>(state_.step - first_step_);
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
  r.data = data_;
  return r;
}

}  // namespace dcacn
