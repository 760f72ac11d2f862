#pragma once
// Cluster assignments as CSV (RFC 4180), one layout for every command that writes them
// (kmeans, predict, embed) and that `score` reads: the columns
//   index[,path][,label],cluster[,extra...]
// "path" for images read from files, "label" when true labels are known, then the command's
// own columns (predict: confidence and top-k; embed: probabilities, embeddings, features).
// Readers find columns by name and ignore the ones they do not know.

#include <torch/types.h>

#include <cstdint>
#include <functional>
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

/// A command's own columns after the common ones.
struct ExtraColumns {
  std::vector<std::string> names;
  /// Appends ",value,value..." for row `i` to `line`.
  std::function<void(int64_t i, std::string& line)> row;
};

/// The CSV text of `clusters` ([N] integer tensor), optional `labels` ([N], undefined for
/// none), optional `paths` (N entries or empty) and the extra columns.
std::string predictions_csv(const torch::Tensor& clusters, const torch::Tensor& labels,
                            const std::vector<std::string>& paths, const ExtraColumns& extra = {});

/// predictions_csv written to `file`, atomically.
void write_predictions_csv(const std::string& file, const torch::Tensor& clusters,
                           const torch::Tensor& labels, const std::vector<std::string>& paths,
                           const ExtraColumns& extra = {});

/// Reads a file written by write_predictions_csv (or by hand: only the "cluster" column is
/// required). Throws InputError naming the file, line and value on malformed content.
Predictions read_predictions_csv(const std::string& file);

/// One CSV field, quoted when it holds a comma, quote or line break.
std::string csv_escape(const std::string& field);

}  // namespace dcacn
