#pragma once
// Cluster assignments as CSV (RFC 4180): header "index,cluster", then "label" when true labels
// are known and "path" for images read from files. Extra columns are kept by readers that
// ignore them, so later versions can add columns.

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dcacn {

struct Predictions {
  std::vector<int64_t> index;
  std::vector<int64_t> cluster;
  /// Empty when the file has no label column.
  std::vector<int64_t> label;
  /// Empty when the file has no path column.
  std::vector<std::string> path;

  /// True when the file has a label column.
  bool has_labels = false;
};

/// Writes `clusters` ([N] integer tensor), optional `labels` ([N], undefined for none) and
/// optional `paths` (N entries or empty) to `file`, atomically.
void write_predictions_csv(const std::string& file, const torch::Tensor& clusters,
                           const torch::Tensor& labels, const std::vector<std::string>& paths);

/// Reads a file written by write_predictions_csv (or by hand: only the "cluster" column is
/// required). Throws InputError naming the file, line and value on malformed content.
Predictions read_predictions_csv(const std::string& file);

/// One CSV field, quoted when it holds a comma, quote or line break.
std::string csv_escape(const std::string& field);

}  // namespace dcacn
