#pragma once
// An in-memory image dataset: what every reader produces and every command consumes.

#include <torch/types.h>

#include <string>
#include <vector>

namespace dcacn {

/// Which part of a dataset with a fixed train/test division to read.
enum class Split { kTrain, kTest, kAll, kUnlabeled };

/// Parses "train", "test", "all" or "unlabeled"; throws InputError otherwise.
Split parse_split(const std::string& text);
std::string split_name(Split split);

struct Dataset {
  /// [N, C, H, W] uint8, contiguous.
  torch::Tensor images;
  /// [N] int64 in [0, num_classes), or undefined when the format has no labels.
  torch::Tensor labels;
  /// Class names indexed by label, when known (may be empty even with labels).
  std::vector<std::string> class_names;
  /// Source file of each image (image folders only; empty otherwise).
  std::vector<std::string> paths;
  /// Short description for logs, e.g. "fashion-mnist (all)".
  std::string name;

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  bool has_labels() const { return labels.defined(); }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }
  /// Number of classes: class_names.size() when known, else max label + 1, else 0.
  int64_t num_classes() const;
};

/// Concatenates datasets with the same image shape (e.g. train + test). Labels are kept only
/// when every part has them.
Dataset concat(const std::vector<Dataset>& parts, const std::string& name);

/// Images as float in [0, 1], flattened to [N, C*H*W], for pixel-space baselines.
torch::Tensor flatten_to_unit_float(const torch::Tensor& images);

}  // namespace dcacn
