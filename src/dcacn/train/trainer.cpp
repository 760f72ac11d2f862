#include "dcacn/train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "dcacn/augment/multicrop.h"
#include "dcacn/augment/transforms.h"
#include "dcacn/cluster/kmeans.h"
#include "dcacn/data/registry.h"
#include "dcacn/infer/inference.h"
#include "dcacn/metrics/cluster_analysis.h"
#include "dcacn/model/state_dict.h"
#include "dcacn/train/checkpoint.h"
#include "dcacn/train/losses.h"
#include "dcacn/train/schedule.h"
#include "dcacn/train/setup.h"
#include "dcacn/util/autocast.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/log.h"
#include "dcacn/util/progress.h"

namespace dcacn {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Set by SIGINT / SIGTERM; polled after every step.
std::atomic<bool> g_signalled{false};
extern "C" void on_stop_signal(int) { g_signalled = true; }

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

std::string fixed(double v, int digits = 4) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.*f", digits, v);
  return buffer;
}

const char* kMetricsHeader =
    "epoch,step,wall_seconds,loss,instance_loss,cluster_loss,entropy_term,images_per_second,"
    "acc,nmi,ari,empty_clusters,largest_cluster_fraction,cluster_size_entropy,lr\n";

}  // namespace

EvalResult evaluate(DCACNImpl& model, const Dataset& data, int64_t image_size,
                    int64_t batch_size, bool bf16, bool channels_last, bool keep_features) {
  InferenceOptions o;
  o.batch_size = batch_size;
  o.bf16 = bf16;
  o.channels_last = channels_last;
  o.features = keep_features;
  o.embeddings = false;
  const ModelOutputs out = run_model(model, data.images, image_size, o);
  EvalResult r;
  r.predictions = out.probabilities.argmax(1);
  if (keep_features) r.features = out.features;
  // The same sizes, entropy and scores `dcacn evaluate` reports.
  const ClusterAnalysis a =
      analyze_clusters(r.predictions, model.options.clusters(), data.labels);
  r.cluster_sizes = a.sizes;
  r.empty_clusters = a.empty_clusters;
  r.largest_cluster_fraction =
      static_cast<double>(*std::max_element(a.sizes.begin(), a.sizes.end())) /
      std::max<int64_t>(1, data.size());
  r.size_entropy = a.size_entropy;
  r.has_labels = a.has_labels;
  if (a.has_labels) r.scores = a.scores;
  return r;
}

Trainer::Trainer(const TrainConfig& config, const std::string& run_dir, bool resume)
    : config_(config), run_dir_(run_dir), resume_(resume) {
  DCACN_CHECK(!run_dir.empty(), "training needs an output folder (--out RUN_DIR)");
  if (resume) {
    const std::string last = checkpoint_path("last");
    DCACN_CHECK(is_file(last), "cannot resume ", run_dir, ": ", last, " not found");
  } else {
    DCACN_CHECK(!is_file(checkpoint_path("last")), run_dir,
                " already holds a run (checkpoints/last.pt); continue it with --resume ",
                run_dir, " or choose another --out");
    config_.validate();
  }
}

std::string Trainer::checkpoint_path(const std::string& name) const {
  return run_dir_ + "/checkpoints/" + name + ".pt";
}

TrainResult Trainer::run() {
  // Resuming: the checkpoint's configuration, with the few settings a user may change.
  Checkpoint restored;
  if (resume_) {
    restored = load_checkpoint(checkpoint_path("last"));
    TrainConfig c = restored.config;
    c.epochs = config_.epochs;
    c.time_budget_minutes = config_.time_budget_minutes;
    c.max_steps = config_.max_steps;
    c.device = config_.device;
    config_ = c;
    config_.validate();
  }
  const TrainConfig& c = config_;
  fs::create_directories(run_dir_ + "/checkpoints");
  write_file_atomic(run_dir_ + "/config.json", c.to_json().dump(2) + "\n");

  const torch::Device device = pick_device(c.device);
  Dataset data = load_dataset(dataset_spec(c));
  DCACN_CHECK(data.size() >= c.batch_size, "--batch-size ", c.batch_size, " is larger than the ",
              data.size(), " images of ", data.name);
  const MultiCropSpec views = view_spec(c, data.height());
  const int64_t image_size = views.global.front().size;
  log_info(c10::str("training on ", data.name, ": ", data.size(), " images, views ",
                    views.describe(), ", device ", device.str(), c.bf16 ? ", bf16 autocast" : ""));

  torch::manual_seed(c.seed);
  DCACN model(model_options(c, data.channels(), image_size));
  if (c.channels_last) to_channels_last(*model);
  model->to(device);
  torch::optim::Adam adam(model->parameters(),
                          torch::optim::AdamOptions(c.lr).weight_decay(c.weight_decay));
  MultiCropAugmenter augment(views, c.seed);
  const LossOptions losses = loss_options(c);

  int64_t epoch = 0, first_batch = 0, step = 0;
  double seconds_before = 0, best_acc = -1;
  if (resume_) {
    load_state_dict(*model, restored.model, checkpoint_path("last"));
    load_optimizer_bytes(adam, restored.optimizer, checkpoint_path("last"));
    augment.generator().set_state(restored.augment_rng);
    epoch = restored.epoch;
    first_batch = restored.batch_in_epoch;
    step = restored.step;
    seconds_before = restored.train_seconds;
    best_acc = restored.best_acc;
    log_info(c10::str("resuming ", run_dir_, " at epoch ", epoch + 1, ", batch ", first_batch,
                      ", step ", step));
  }
  const std::string metrics_path = run_dir_ + "/metrics.csv";
  if (!resume_ || !is_file(metrics_path)) write_file_atomic(metrics_path, kMetricsHeader);

  const auto start = Clock::now();
  auto elapsed = [&] {
    return seconds_before + std::chrono::duration<double>(Clock::now() - start).count();
  };
  auto snapshot = [&](int64_t at_epoch, int64_t at_batch) {
    Checkpoint ck;
    ck.config = c;
    ck.epoch = at_epoch;
    ck.batch_in_epoch = at_batch;
    ck.step = step;
    ck.train_seconds = elapsed();
    ck.best_acc = best_acc;
    ck.model = state_dict(*model);
    ck.optimizer = optimizer_bytes(adam);
    ck.augment_rng = augment.generator().get_state();
    return ck;
  };

  // RUN_DIR/final.json: the cluster head's scores and, as a second reading of the learned
  // representation, k-means on the backbone features (scikit-learn's protocol, n_init 10).
  auto write_final_report = [&](const EvalResult& ev, double images_per_second) {
    nlohmann::json out = {{"step", step},
                          {"train_seconds", elapsed()},
                          {"training_images_per_second", images_per_second},
                          {"cluster_sizes", ev.cluster_sizes},
                          {"empty_clusters", ev.empty_clusters}};
    if (ev.has_labels) {
      out["cluster_head"] = {{"acc", ev.scores.acc}, {"nmi", ev.scores.nmi}, {"ari", ev.scores.ari}};
      KMeansOptions km;
      km.k = c.clusters;
      km.seed = c.seed;
      const KMeansResult fit = kmeans(ev.features, km);
      const ClusteringScores s = score_clustering(data.labels, fit.labels);
      out["kmeans_on_features"] = {{"acc", s.acc}, {"nmi", s.nmi}, {"ari", s.ari}};
      log_info(c10::str("k-means on the learned features: ", format_scores(s)));
    }
    write_file_atomic(run_dir_ + "/final.json", out.dump(2) + "\n");
  };

  // Running means of the losses between evaluations.
  double sum_loss = 0, sum_inst = 0, sum_clus = 0, sum_ent = 0;
  int64_t loss_count = 0, images_since = 0;
  auto since_eval = Clock::now();
  TrainResult result;
  double current_lr = c.lr;
  int64_t last_eval_step = -1;  // the step of the latest evaluation, to not repeat it

  // Training time only (evaluations excluded), for the images/s figures.
  double train_only_seconds = 0;
  int64_t train_only_images = 0;
  auto evaluate_and_save = [&](int64_t at_epoch, int64_t at_batch, double epoch_position,
                               bool final) {
    const double segment = std::chrono::duration<double>(Clock::now() - since_eval).count();
    const double train_rate = images_since / std::max(1e-9, segment);
    train_only_seconds += segment;
    train_only_images += images_since;
    // Features are kept so that, when the budget ends right after this evaluation, the final
    // report (k-means on them) does not evaluate the same model again.
    EvalResult ev = evaluate(*model, data, image_size, c.eval_batch_size, c.bf16, c.channels_last,
                             /*keep_features=*/true);
    last_eval_step = step;
    const bool improved = ev.has_labels && ev.scores.acc > best_acc;
    if (improved) best_acc = ev.scores.acc;
    const Checkpoint ck = snapshot(at_epoch, at_batch);
    save_checkpoint(ck, checkpoint_path("last"));
    if (improved || !ev.has_labels) save_checkpoint(ck, checkpoint_path("best"));
    if (c.keep_epoch_checkpoints && at_batch == 0) {
      char name[32];
      std::snprintf(name, sizeof(name), "epoch_%04lld", static_cast<long long>(at_epoch));
      save_checkpoint(ck, checkpoint_path(name));
    }
    const double n = std::max<int64_t>(1, loss_count);
    std::ofstream csv(metrics_path, std::ios::app);
    csv << fixed(epoch_position, 3) << ',' << step << ',' << fixed(elapsed(), 1) << ','
        << fixed(sum_loss / n, 5) << ',' << fixed(sum_inst / n, 5) << ',' << fixed(sum_clus / n, 5)
        << ',' << fixed(sum_ent / n, 5) << ',' << fixed(train_rate, 1) << ','
        << (ev.has_labels ? fixed(ev.scores.acc) : "") << ','
        << (ev.has_labels ? fixed(ev.scores.nmi) : "") << ','
        << (ev.has_labels ? fixed(ev.scores.ari) : "") << ',' << ev.empty_clusters << ','
        << fixed(ev.largest_cluster_fraction) << ',' << fixed(ev.size_entropy) << ','
        << current_lr << '\n';
    std::string line = c10::str("epoch ", fixed(epoch_position, 2), " step ", step, ": loss ",
                                fixed(sum_loss / n), ", ");
    if (ev.has_labels) line += format_scores(ev.scores) + ", ";
    line += c10::str(ev.empty_clusters, " empty clusters, largest ",
                     fixed(100 * ev.largest_cluster_fraction, 1), "%");
    log_info(line);
    if (ev.largest_cluster_fraction > 0.9 || ev.empty_clusters > c.clusters / 2) {
      log_warning(c10::str("the clusters are collapsing: ", ev.empty_clusters, " of ",
                           c.clusters, " empty, the largest holds ",
                           fixed(100 * ev.largest_cluster_fraction, 1),
                           "% of the images (try a larger --entropy-weight or --lr lower)"));
    }
    if (final) write_final_report(ev, train_only_images / std::max(1e-9, train_only_seconds));
    sum_loss = sum_inst = sum_clus = sum_ent = 0;
    loss_count = images_since = 0;
    since_eval = Clock::now();
    result.last_eval = ev;
  };

  g_signalled = false;
  auto previous_int = std::signal(SIGINT, on_stop_signal);
  auto previous_term = std::signal(SIGTERM, on_stop_signal);
  struct RestoreSignals {
    decltype(previous_int) a, b;
    ~RestoreSignals() {
      std::signal(SIGINT, a);
      std::signal(SIGTERM, b);
    }
  } restore{previous_int, previous_term};

  const int64_t batches = data.size() / c.batch_size;  // drop_last
  const double budget = c.time_budget_minutes * 60.0;
  Progress progress;
  model->train();
  for (; epoch < c.epochs; ++epoch, first_batch = 0) {
    const torch::Tensor order = epoch_order(c.seed, epoch, data.size());
    for (int64_t b = first_batch; b < batches; ++b) {
      const bool budget_reached =
          (budget > 0 && elapsed() >= budget) || (c.max_steps > 0 && step >= c.max_steps);
      const bool stop = stop_ || g_signalled || (step_limit_ >= 0 && step >= step_limit_);
      if (budget_reached || stop) {
        progress.finish();
        if (budget_reached && last_eval_step == step) {
          // An epoch's evaluation has just scored and saved this very model.
          write_final_report(result.last_eval,
                             train_only_images / std::max(1e-9, train_only_seconds));
        } else if (budget_reached) {
          evaluate_and_save(epoch, b, epoch + static_cast<double>(b) / batches, /*final=*/true);
        }
        if (budget_reached) {
          log_info(c.max_steps > 0 && step >= c.max_steps
                       ? c10::str("step budget of ", c.max_steps, " steps reached")
                       : c10::str("time budget of ", c.time_budget_minutes, " min reached"));
        } else {
          save_checkpoint(snapshot(epoch, b), checkpoint_path("last"));
          log_info(c10::str("stopped at epoch ", epoch + 1, ", batch ", b,
                            "; continue with: dcacn train --resume ", run_dir_));
        }
        result.status = budget_reached ? TrainResult::Status::kBudgetReached
                                    : TrainResult::Status::kInterrupted;
        result.epoch = epoch;
        result.step = step;
        result.train_seconds = elapsed();
        return result;
      }
      const torch::Tensor index = order.slice(0, b * c.batch_size, (b + 1) * c.batch_size);
      const torch::Tensor images = data.images.index_select(0, index).to(device);
      std::vector<torch::Tensor> v = augment(images);
      // Views of one size go through the network together.
      std::map<int64_t, std::vector<int64_t>> by_size;
      for (int64_t i = 0; i < static_cast<int64_t>(v.size()); ++i) by_size[v[i].size(2)].push_back(i);
      std::vector<torch::Tensor> h(v.size()), p(v.size());
      {
        AutocastGuard autocast(c.bf16, device);
        for (const auto& [size, members] : by_size) {
          std::vector<torch::Tensor> group;
          for (int64_t i : members) group.push_back(v[i]);
          torch::Tensor x = torch::cat(group, 0);
          if (c.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
          const DCACNOutput out = model->forward(x);
          const auto hs = out.embedding.split(c.batch_size, 0);
          const auto ps = out.probabilities.split(c.batch_size, 0);
          for (size_t j = 0; j < members.size(); ++j) {
            h[members[j]] = hs[j];
            p[members[j]] = ps[j];
          }
        }
      }
      const LossTerms loss =
          multicrop_loss(h, p, static_cast<int64_t>(views.global.size()), losses);
      const double value = loss.total.item<double>();
      if (!std::isfinite(value)) {
        progress.finish();
        throw InputError(c10::str(
            "the loss became ", value, " at epoch ", epoch + 1, ", step ", step + 1,
            " (instance ", loss.instance.item<double>(), ", cluster ", loss.cluster.item<double>(),
            "); training stopped. The last good checkpoint is ", checkpoint_path("last"),
            is_file(checkpoint_path("last")) ? "" : " (none was written yet)",
            ". A lower --lr usually helps."));
      }
      current_lr = scheduled_lr(c, budget_fraction(c, step, batches, elapsed()));
      for (auto& group : adam.param_groups()) {
        static_cast<torch::optim::AdamOptions&>(group.options()).lr(current_lr);
      }
      adam.zero_grad();
      loss.total.backward();
      adam.step();
      ++step;
      sum_loss += value;
      sum_inst += loss.instance.item<double>();
      sum_clus += loss.cluster.item<double>();
      sum_ent += loss.entropy.item<double>();
      ++loss_count;
      images_since += c.batch_size;
      const double rate = images_since / std::max(1e-9, std::chrono::duration<double>(Clock::now() - since_eval).count());
      double remaining_steps = static_cast<double>((c.epochs - epoch) * batches - b - 1);
      if (c.max_steps > 0) remaining_steps = std::min<double>(remaining_steps, c.max_steps - step);
      double eta = remaining_steps * c.batch_size / std::max(rate, 1e-9);
      if (budget > 0) eta = std::min(eta, std::max(0.0, budget - elapsed()));
      progress.update(c10::str("epoch ", epoch + 1, "/", c.epochs, " step ", step, " loss ",
                               fixed(value), " (inst ", fixed(loss.instance.item<double>(), 3),
                               ", clus ", fixed(loss.cluster.item<double>(), 3), ") ",
                               fixed(rate, 0), " img/s, ETA ", format_duration(eta)));
    }
    progress.finish();
    if ((epoch + 1) % c.eval_every == 0 || epoch + 1 == c.epochs) {
      evaluate_and_save(epoch + 1, 0, static_cast<double>(epoch + 1), epoch + 1 == c.epochs);
    }
  }
  result.status = TrainResult::Status::kFinished;
  result.epoch = epoch;
  result.step = step;
  result.train_seconds = elapsed();
  return result;
}

}  // namespace dcacn
