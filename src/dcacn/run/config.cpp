#include "dcacn/run/config.h"

#include "dcacn/data/registry.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"

namespace dcacn {

// clang-format off
#define DCACN_CONFIG_FIELDS(X)                                                                 \
  X(dataset) X(data_path) X(split) X(folder_image_size) X(channels) X(folder_squash) X(depth)  \
  X(width) X(attention) X(stem) X(clusters) X(views) X(instance_loss) X(instance_temperature)  \
  X(cluster_loss) X(cluster_reading) X(cluster_temperature) X(cluster_weight)                  \
  X(entropy_weight) X(lr) X(lr_schedule) X(weight_decay) X(batch_size) X(epochs)               \
  X(time_budget_minutes) X(max_steps) X(seed) X(bf16) X(channels_last) X(eval_every)           \
  X(eval_batch_size) X(keep_epoch_checkpoints) X(device) X(preset) X(selflabel_minutes)        \
  X(selflabel_steps) X(selflabel_lr) X(selflabel_threshold) X(selflabel_quota)                 \
  X(selflabel_ce_weight) X(selflabel_instance_weight) X(selflabel_entropy_weight)             \
  X(neighbour_space) X(neighbour_k) X(neighbour_heads) X(neighbour_epochs) X(neighbour_lr)     \
  X(neighbour_entropy_weight) X(stages) X(eval_every_minutes) X(eval_images) X(init_weights)  \
  X(k_range) X(k_criterion) X(precision_auto) X(precision_measured)
// clang-format on

nlohmann::json TrainConfig::to_json() const {
  nlohmann::json out;
#define DCACN_WRITE(name) out[#name] = name;
  DCACN_CONFIG_FIELDS(DCACN_WRITE)
#undef DCACN_WRITE
  return out;
}

TrainConfig TrainConfig::from_json(const nlohmann::json& json) {
  DCACN_CHECK(json.is_object(), "a training configuration must be a JSON object");
  TrainConfig c;
  nlohmann::json known = c.to_json();
  for (const auto& item : json.items()) {
    DCACN_CHECK(known.contains(item.key()), "unknown configuration key '", item.key(), "'");
  }
  try {
#define DCACN_READ(name) \
  if (json.contains(#name)) json.at(#name).get_to(c.name);
    DCACN_CONFIG_FIELDS(DCACN_READ)
#undef DCACN_READ
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("bad value in the training configuration: ") + e.what());
  }
  return c;
}

std::pair<int64_t, int64_t> parse_k_range(const std::string& text, const std::string& what) {
  const size_t dash = text.find('-');
  long long a = 0, b = 0;
  bool ok = dash != std::string::npos && dash > 0 && dash + 1 < text.size();
  if (ok) {
    try {
      size_t used_a = 0, used_b = 0;
      a = std::stoll(text.substr(0, dash), &used_a);
      b = std::stoll(text.substr(dash + 1), &used_b);
      ok = used_a == dash && used_b == text.size() - dash - 1;
    } catch (const std::exception&) {
      ok = false;
    }
  }
  DCACN_CHECK(ok && a >= 2 && b >= a, what, " must be A-B with 2 <= A <= B (e.g. 2-30), got '",
              text, "'");
  return {a, b};
}

void TrainConfig::validate() const {
  DCACN_CHECK(depth == 18 || depth == 34 || depth == 50,
              "--arch must be resnet18, resnet34 or resnet50, got depth ", depth);
  DCACN_CHECK(channels == 0 || channels == 1 || channels == 3,
              "--channels must be 1 or 3 (0: the dataset's own), got ", channels);
  DCACN_CHECK(channels == 0 || dataset == "folder", "--channels applies to image folders; ",
              dataset, " has its own");
  DCACN_CHECK(width >= 1, "--width must be positive, got ", width);
  DCACN_CHECK(clusters >= 2, "--clusters must be at least 2, got ", clusters);
  if (!k_range.empty()) parse_k_range(k_range, "--k-range");
  DCACN_CHECK(k_criterion == "heads" || k_criterion == "stability",
              "--k-criterion must be heads or stability, got '", k_criterion, "'");
  DCACN_CHECK(attention == "cbam" || attention == "none", "--attention must be cbam or none, got ",
              attention);
  DCACN_CHECK(instance_loss == "decoupled" || instance_loss == "infonce",
              "--instance-loss must be decoupled or infonce, got ", instance_loss);
  DCACN_CHECK(cluster_loss == "decoupled" || cluster_loss == "infonce",
              "--cluster-loss must be decoupled or infonce, got ", cluster_loss);
  DCACN_CHECK(cluster_reading == "columns" || cluster_reading == "rows",
              "--cluster-reading must be columns or rows, got ", cluster_reading);
  DCACN_CHECK(instance_temperature > 0 && cluster_temperature > 0,
              "temperatures must be positive, got ", instance_temperature, " and ",
              cluster_temperature);
  DCACN_CHECK(lr > 0, "--lr must be positive, got ", lr);
  DCACN_CHECK(lr_schedule == "constant" || lr_schedule == "cosine",
              "--lr-schedule must be constant or cosine, got ", lr_schedule);
  DCACN_CHECK(weight_decay >= 0, "--weight-decay must be non-negative, got ", weight_decay);
  DCACN_CHECK(batch_size >= 2, "--batch-size must be at least 2, got ", batch_size);
  DCACN_CHECK(epochs >= 1, "--epochs must be at least 1, got ", epochs);
  DCACN_CHECK(time_budget_minutes >= 0, "--time-budget must be non-negative, got ",
              time_budget_minutes);
  DCACN_CHECK(max_steps >= 0, "--max-steps must be non-negative, got ", max_steps);
  DCACN_CHECK(eval_every >= 1, "--eval-every must be at least 1, got ", eval_every);
  DCACN_CHECK(eval_batch_size >= 1, "--eval-batch-size must be positive, got ", eval_batch_size);
  DCACN_CHECK(eval_every_minutes >= 0, "--eval-every-minutes must be non-negative, got ",
              eval_every_minutes);
  DCACN_CHECK(eval_images >= 0, "--eval-images must be non-negative (0: all), got ", eval_images);
  DCACN_CHECK(keep_epoch_checkpoints >= 0,
              "--keep-epoch-checkpoints must be none or a positive number of epochs, got ",
              keep_epoch_checkpoints);
  DCACN_CHECK(selflabel_minutes >= 0 && selflabel_steps >= 0,
              "--selflabel-minutes and --selflabel-steps must be non-negative, got ",
              selflabel_minutes, " and ", selflabel_steps);
  DCACN_CHECK(selflabel_lr > 0, "--selflabel-lr must be positive, got ", selflabel_lr);
  DCACN_CHECK(0 <= selflabel_threshold && selflabel_threshold < 1,
              "--selflabel-threshold is a probability in [0, 1), got ", selflabel_threshold);
  DCACN_CHECK(0 < selflabel_quota && selflabel_quota <= 1,
              "--selflabel-quota is a fraction of B / K in (0, 1], got ", selflabel_quota);
  DCACN_CHECK(selflabel_ce_weight >= 0 && selflabel_instance_weight >= 0 &&
                  selflabel_ce_weight + selflabel_instance_weight > 0,
              "the self-labelling weights must be non-negative and not both 0, got ",
              selflabel_ce_weight, " and ", selflabel_instance_weight);
  DCACN_CHECK(selflabel_entropy_weight >= 0,
              "--selflabel-entropy-weight must be non-negative, got ", selflabel_entropy_weight);
  DCACN_CHECK(neighbour_space == "off" || neighbour_space == "pixels" ||
                  neighbour_space == "features" || neighbour_space == "both" ||
                  neighbour_space == "auto",
              "--neighbours must be off, pixels, features, both or auto, got ", neighbour_space);
  DCACN_CHECK(neighbour_k >= 1, "--neighbour-k must be positive, got ", neighbour_k);
  DCACN_CHECK(neighbour_heads >= 1, "--neighbour-heads must be positive, got ", neighbour_heads);
  DCACN_CHECK(neighbour_epochs >= 1, "--neighbour-epochs must be positive, got ", neighbour_epochs);
  DCACN_CHECK(neighbour_lr > 0, "--neighbour-lr must be positive, got ", neighbour_lr);
  DCACN_CHECK(neighbour_entropy_weight >= 0,
              "--neighbour-entropy-weight must be non-negative, got ", neighbour_entropy_weight);
  DCACN_CHECK(stages.empty() || (max_steps == 0 && selflabel_minutes == 0 && selflabel_steps == 0),
              "with --stages, each stage's budget is given in it (e.g. contrastive:27m, or "
              "contrastive:share=0.5 with --time-budget for the whole run); --max-steps, "
              "--selflabel-minutes and --selflabel-steps cannot go with it");
  DCACN_CHECK(device == "auto" || device == "cpu" || device == "cuda",
              "--device must be auto, cpu or cuda, got ", device);
}

void ResumeOverrides::apply(TrainConfig& c) const {
  if (epochs) c.epochs = *epochs;
  if (time_budget_minutes) c.time_budget_minutes = *time_budget_minutes;
  if (max_steps) c.max_steps = *max_steps;
  if (device) c.device = *device;
  if (eval_every) c.eval_every = *eval_every;
  if (eval_batch_size) c.eval_batch_size = *eval_batch_size;
  if (eval_every_minutes) c.eval_every_minutes = *eval_every_minutes;
  if (eval_images) c.eval_images = *eval_images;
  if (keep_epoch_checkpoints) c.keep_epoch_checkpoints = *keep_epoch_checkpoints;
  if (selflabel_minutes) c.selflabel_minutes = *selflabel_minutes;
  if (selflabel_steps) c.selflabel_steps = *selflabel_steps;
  if (selflabel_lr) c.selflabel_lr = *selflabel_lr;
  if (selflabel_threshold) c.selflabel_threshold = *selflabel_threshold;
  if (selflabel_quota) c.selflabel_quota = *selflabel_quota;
  if (selflabel_ce_weight) c.selflabel_ce_weight = *selflabel_ce_weight;
  if (selflabel_instance_weight) c.selflabel_instance_weight = *selflabel_instance_weight;
  if (selflabel_entropy_weight) c.selflabel_entropy_weight = *selflabel_entropy_weight;
  if (neighbour_space) c.neighbour_space = *neighbour_space;
  if (neighbour_k) c.neighbour_k = *neighbour_k;
  if (neighbour_heads) c.neighbour_heads = *neighbour_heads;
  if (neighbour_epochs) c.neighbour_epochs = *neighbour_epochs;
  if (neighbour_lr) c.neighbour_lr = *neighbour_lr;
  if (neighbour_entropy_weight) c.neighbour_entropy_weight = *neighbour_entropy_weight;
  if (stages) c.stages = *stages;
}

TrainConfig read_run_config(const std::string& run_dir) {
  const std::string path = run_dir + "/config.json";
  DCACN_CHECK(is_file(path), run_dir, " is not a dcacn run directory: ", path, " not found");
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  try {
    return TrainConfig::from_json(nlohmann::json::parse(bytes.begin(), bytes.end()));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(c10::str(path, " is not valid JSON: ", e.what()));
  } catch (const InputError& e) {
    throw InputError(c10::str(path, ": ", e.what()));
  }
}

std::string architecture_name(int64_t depth) { return "resnet" + std::to_string(depth); }

int64_t parse_architecture(const std::string& name) {
  for (int64_t depth : {18, 34, 50}) {
    if (name == architecture_name(depth)) return depth;
  }
  throw InputError("unknown --arch '" + name + "': expected resnet18, resnet34 or resnet50");
}

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> kNames = {"fmnist-cpu", "paper-cifar10", "paper-stl10",
                                                  "paper-imagenet10"};
  return kNames;
}

TrainConfig preset(const std::string& name) {
  TrainConfig c;
  c.preset = name;
  if (name == "fmnist-cpu") {
    // ResNet-18 + CBAM at a quarter width: ~0.76 M parameters, ~0.06 GFLOPs per 28 px image.
    // Half of ResNet-34's FLOPs and 1.6-2x its images/s, and the better use of a CPU's time:
    // ACC at 10 minutes 0.728 on both seeds against ResNet-34's 0.624 and 0.702 on the same
    // day; at 30 minutes level with it (0.7464 against 0.7503, three seeds each, on different
    // days): bench/results/fmnist_ten_minutes.md, fmnist_quality.md.
    c.dataset = "fashion-mnist";
    c.depth = 18;
    c.width = 16;
    c.batch_size = 256;
    c.epochs = 1000;
    // 30 minutes in all, in two stages (bench/results/fmnist_quality.md):
    // - contrastive training with neighbour views (every image's second global view is of one
    //   of its 20 nearest neighbours in the whitened pixels, which know more than a young
    //   network's features), until the run's clock leaves just what the rest needs (its
    //   evaluation and the neighbour stage, timed on small pieces of their work at the start);
    // - the neighbour stage on neighbours mined in the whitened features, which by then are
    //   purer than the pixels' (0.83 of the 20 share their class, against 0.82), with the
    //   network's own head competing on its fit to both graphs (own=on).
    // 0.7628 over 3 seeds (2639-2866 steps), against 0.7464 for the earlier two stages on
    // pixel neighbours (contrastive:share=1,neighbours; 1382-1457 steps, and 0.7512 with 3185).
    // The four-stage pipeline with scan (contrastive:share=0.5,neighbours,scan:share=1,
    // neighbours) was no better over 3 seeds at 30 minutes (0.7267) and worse at 10 (0.6526).
    // Progressive resizing (contrastive:...:early_size=0.7:early_share=0.5) gained +0.01 at 10
    // minutes (2 seeds) and lost 0.017 at 30 (0.7297 over 2 seeds against 0.7464).
    c.time_budget_minutes = 30;
    c.neighbour_space = "pixels";
    c.stages = "contrastive:share=1:neighbours=1,neighbours:space=features:own=on";
    // Four local crops and Adam at 1e-3: the best of the tuning runs in bench/fmnist_quality
    // (ACC 0.6456 in 30 min, against 0.6297 with two local crops at 3e-4).
    c.views = "2x28@0.2-1,4x14@0.05-0.5";
    c.lr = 1e-3;
    // bf16 or fp32, whichever trains faster here (train/precision.h): bf16 on the AMD EPYC of
    // the benchmarks, fp32 on an Intel Xeon without AMX.
    c.bf16 = true;
    c.precision_auto = true;
    c.channels_last = true;
    c.eval_every = 1;
    // A point of the curves every minute, on 5,000 images (2-3 s each, ~4% of the run); every
    // stage's end and the final score are on all images.
    c.eval_every_minutes = 1;
    c.eval_images = 5000;
  } else if (name == "paper-cifar10") {
    c.dataset = "cifar10";
    c.views = "2x32@0.2-1,4x16@0.05-0.5";
  } else if (name == "paper-stl10") {
    c.dataset = "stl10";
    c.views = "2x96@0.14-1,4x48@0.05-0.4";
  } else if (name == "paper-imagenet10") {
    c.dataset = "folder";
    c.folder_image_size = 224;
    c.views = "2x224@0.14-1,6x96@0.05-0.14";
  } else {
    std::string known;
    for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw InputError("unknown preset '" + name + "': expected one of " + known);
  }
  return c;
}

}  // namespace dcacn
