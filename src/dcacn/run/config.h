#pragma once
// Everything a run depends on, with the defaults of docs/design.md section 5. Written to
// RUN_DIR/config.json and into every checkpoint, so that a run can be resumed and reproduced.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace dcacn {

struct TrainConfig {
  // Data.
  std::string dataset = "fashion-mnist";  ///< a dataset_names() entry
  std::string data_path;                  ///< empty: the dataset's default location
  std::string split = "all";
  int64_t folder_image_size = 96;  ///< image folders: decoded size
  int64_t channels = 0;            ///< image folders: 1 or 3; 0: the dataset's own
  bool folder_squash = false;      ///< image folders: squash, not centre-crop
  // Network.
  int64_t depth = 34;  ///< ResNet depth: 18, 34 or 50 (--arch resnetNN)
  int64_t width = 64;
  std::string attention = "cbam";
  std::string stem = "auto";
  int64_t clusters = 10;
  /// "A-B": the run's number of clusters is estimated in this range (cluster/k_estimation.h)
  /// when its neighbours stage begins, on the network's features; `clusters` is then the
  /// training head's K until that stage (over-clustering: the range's end). Empty: `clusters`.
  std::string k_range;
  /// How K is estimated with a `k_range`: "stability" (of k-means) or "heads" (the agreement of
  /// neighbour heads; train/neighbour_stage.h).
  std::string k_criterion = "stability";
  // Views: COUNTxSIZE[@MIN-MAX] groups (see parse_views); empty: the dataset's defaults.
  std::string views;
  // Losses.
  std::string instance_loss = "decoupled";  ///< decoupled | infonce
  double instance_temperature = 0.5;
  std::string cluster_loss = "decoupled";   ///< decoupled | infonce
  std::string cluster_reading = "columns";  ///< columns | rows
  double cluster_temperature = 1.0;
  double cluster_weight = 1.0;  ///< lambda
  double entropy_weight = 1.0;
  // Optimisation.
  double lr = 3e-4;
  std::string lr_schedule = "constant";  ///< constant | cosine (to zero over the budget)
  double weight_decay = 0.0;
  int64_t batch_size = 256;
  int64_t epochs = 1000;
  /// > 0: stop once the run's wall time (training and its periodic evaluations, summed over
  /// resumed sessions) reaches this many minutes. Without `stages`, the contrastive stage's
  /// budget (the stages after it add their time); with `stages`, the whole run's: every stage,
  /// its evaluations and the final scoring (train/session.h), and what share= divides.
  double time_budget_minutes = 0;
  int64_t max_steps = 0;  ///< > 0: stop after this many optimiser steps
  uint64_t seed = 0;
  // Self-labelling stage (train/self_labelling.h): runs after the contrastive stage's budget
  // (epochs, time or steps) when one of its own budgets is > 0.
  double selflabel_minutes = 0;  ///< its time budget, counted from its start
  int64_t selflabel_steps = 0;   ///< its step budget
  double selflabel_lr = 1e-4;    ///< Adam's learning rate in it (constant)
  double selflabel_threshold = 0.9;
  double selflabel_quota = 0.5;
  double selflabel_ce_weight = 1.0;
  double selflabel_instance_weight = 1.0;
  /// Weight of the entropy regulariser in the stage (the contrastive stage uses entropy_weight).
  double selflabel_entropy_weight = 1.0;
  // Neighbour stage (train/neighbour_head.h), last: SCAN's clustering step on the frozen
  // features. The cluster head is replaced by the best of neighbour_heads heads trained to give
  // each image and its neighbours the same cluster.
  std::string neighbour_space = "off";  ///< off | pixels | features: where neighbours are mined
  int64_t neighbour_k = 20;
  int64_t neighbour_heads = 8;
  int64_t neighbour_epochs = 20;
  double neighbour_lr = 1e-3;
  double neighbour_entropy_weight = 5.0;
  /// The run's stages (train/pipeline.h), e.g. "contrastive:27m,neighbours"; empty: the stages
  /// the flags above describe (contrastive with --epochs, --time-budget and --max-steps as its
  /// budget, then self-labelling, then the neighbour stage, each when set).
  std::string stages;
  bool bf16 = false;  ///< CPU bf16 autocast / CUDA bf16 autocast
  /// --precision auto: a new run times a few steps in fp32 and in bf16 when it starts
  /// (train/precision.h) and sets `bf16` to the faster; `precision_measured` records the
  /// figures. A resumed run keeps the choice.
  bool precision_auto = false;
  std::string precision_measured;
  bool channels_last = false;  ///< NHWC weights and inputs (faster convolutions on CPU)
  // Evaluation and checkpoints.
  int64_t eval_every = 1;  ///< epochs between evaluations and checkpoints
  /// > 0: evaluations and checkpoints every this many minutes of the run instead of per epoch.
  double eval_every_minutes = 0;
  /// > 0: the periodic evaluations inside a stage score a fixed sample of this many images
  /// (drawn from the run's seed); a stage's end and the final score use all. 0: all images.
  int64_t eval_images = 0;
  int64_t eval_batch_size = 512;
  /// > 0: also keep checkpoints/epoch_NNNN.pt every this many epochs; 0: none (last.pt and
  /// best.pt are always written). A paper preset's epoch checkpoint is ~250 MB.
  int64_t keep_epoch_checkpoints = 0;
  /// A torchvision ResNet state dict the backbone of a new run starts from (model/pretrained.h);
  /// empty: initialised from the seed.
  std::string init_weights;
  std::string device = "auto";  ///< auto | cpu | cuda
  std::string preset;           ///< the preset this configuration started from, if any

  bool has_selflabel_stage() const { return selflabel_minutes > 0 || selflabel_steps > 0; }
  bool has_neighbour_stage() const { return neighbour_space != "off"; }

  nlohmann::json to_json() const;
  /// Reads a configuration; unknown keys are an error (they would be silently ignored).
  static TrainConfig from_json(const nlohmann::json& json);
  /// Checks every value; throws InputError naming the option.
  void validate() const;
};

/// "A-B" with 2 <= A <= B (a --k-range); InputError naming `what` and the text otherwise.
std::pair<int64_t, int64_t> parse_k_range(const std::string& text, const std::string& what);

/// The settings that may change when a run is resumed (`dcacn train --resume`); everything
/// else is the run's own. Each is applied only when set.
struct ResumeOverrides {
  std::optional<int64_t> epochs;
  std::optional<double> time_budget_minutes;
  std::optional<int64_t> max_steps;
  std::optional<std::string> device;
  std::optional<int64_t> eval_every;
  std::optional<double> eval_every_minutes;
  std::optional<int64_t> eval_images;
  std::optional<int64_t> eval_batch_size;
  std::optional<int64_t> keep_epoch_checkpoints;
  std::optional<double> selflabel_minutes;
  std::optional<int64_t> selflabel_steps;
  // The stage's settings: they may be given until the stage begins (so that a finished
  // contrastive run can get a stage of any kind later), not after.
  std::optional<double> selflabel_lr;
  std::optional<double> selflabel_threshold;
  std::optional<double> selflabel_quota;
  std::optional<double> selflabel_ce_weight;
  std::optional<double> selflabel_instance_weight;
  std::optional<double> selflabel_entropy_weight;
  // The neighbour stage's settings: they may be given until the stage has run (a finished run
  // can get the stage later).
  std::optional<std::string> neighbour_space;
  std::optional<int64_t> neighbour_k;
  std::optional<int64_t> neighbour_heads;
  std::optional<int64_t> neighbour_epochs;
  std::optional<double> neighbour_lr;
  std::optional<double> neighbour_entropy_weight;
  /// A new pipeline: the stages that have begun must stay as they are; later ones may change or
  /// be appended.
  std::optional<std::string> stages;

  void apply(TrainConfig& config) const;
};

/// RUN_DIR/config.json; InputError naming the file when it is missing or not a configuration.
TrainConfig read_run_config(const std::string& run_dir);

/// Names of the built-in presets.
const std::vector<std::string>& preset_names();

/// paper-cifar10, paper-stl10, paper-imagenet10 (the paper's settings, for a GPU) and
/// fmnist-cpu (ResNet-34 + CBAM at width 16 on Fashion-MNIST, sized for 2 CPU cores).
TrainConfig preset(const std::string& name);

/// "resnet34" for depth 34: the architecture's one name, as --arch takes it.
std::string architecture_name(int64_t depth);
/// 34 for "resnet34"; InputError naming the value otherwise.
int64_t parse_architecture(const std::string& name);

}  // namespace dcacn
