#pragma once
// The report's gnuplot figures: each writes its data (.dat), its script (.gp) and the PNG.

#include <torch/types.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "dcacn/metrics/cluster_analysis.h"

namespace dcacn {

/// The folder a report is written to, and the files written so far.
class ReportWriter {
 public:
  explicit ReportWriter(std::string dir) : dir_(std::move(dir)) {}
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  /// Writes a data file.
  void data(const std::string& name, const std::string& text);
  /// Runs gnuplot on `script` (saved as NAME.gp), which must write NAME.png.
  void plot(const std::string& name, const std::string& script);
  /// Records a file written by other means.
  void add(const std::string& name) { files_.push_back(path(name)); }
  const std::vector<std::string>& files() const { return files_; }

 private:
  std::string dir_;
  std::vector<std::string> files_;
};

using MetricsRows = std::vector<std::map<std::string, std::string>>;

/// metrics.csv as rows of column name -> text; empty when the file does not exist.
MetricsRows read_metrics_rows(const std::string& path);

/// curves.png (ACC, NMI, ARI against the run's minutes, when the rows have scores) and loss.png,
/// with a dashed line where each stage begins (after the row before its first). Returns whether
/// curves.png was drawn.
bool plot_training_curves(ReportWriter& w, const MetricsRows& rows);

/// What plot_k_estimate drew: the K chosen (0: no rows, K was not estimated) and by which
/// criterion (the file's columns say: agreement,standard_error for the heads' agreement,
/// stability,spread for k-means' stability).
struct KEstimatePlot {
  int64_t chosen = 0;
  bool by_heads = false;
};

/// k_estimate.png from a run's k_estimate.csv (read with read_metrics_rows): the measure of every
/// K tried on the features and on the Gaussian reference, their difference (the criterion), the
/// error bars (heads: the criterion's standard error; stability: the spread over the pairs of
/// fits), the chosen K marked.
KEstimatePlot plot_k_estimate(ReportWriter& w, const MetricsRows& rows);

/// sizes.png: the clusters' sizes, largest first.
void plot_cluster_sizes(ReportWriter& w, const ClusterAnalysis& a);

/// confusion.png: classes against clusters, matched clusters in class order.
void plot_confusion(ReportWriter& w, const ClusterAnalysis& a,
                    const std::vector<std::string>& class_names);

/// What the t-SNE figures show.
struct TsneFigureInput {
  torch::Tensor points;    ///< [M, 2] float, the embedding
  torch::Tensor clusters;  ///< [M] int64
  torch::Tensor labels;    ///< [M] int64 or undefined
};

/// tsne_clusters.png and, with labels, tsne_labels.png.
void plot_tsne_figures(ReportWriter& w, const TsneFigureInput& input, const ClusterAnalysis& a,
                       const std::vector<std::string>& class_names);

/// "class 3" when a name is missing; "-" for a negative class.
std::string class_name(const std::vector<std::string>& names, int64_t c);

/// printf-style formatting of one number.
std::string format_number(const char* spec, double value);

}  // namespace dcacn
