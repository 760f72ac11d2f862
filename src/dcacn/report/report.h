#pragma once
// `dcacn report RUN_DIR`: the figures of a training run as PNG files and an index.html that
// shows them together:
//   curves.png          ACC, NMI and ARI against epoch (the paper's Fig. 3) from metrics.csv
//   loss.png            the training losses against epoch
//   tsne_clusters.png   t-SNE of the backbone features of a subsample, coloured by cluster
//   tsne_labels.png     the same points coloured by class (the paper's Fig. 4), with labels
//   montage.png         the most confident images of every cluster, one row per cluster
//   confusion.png       classes x clusters after Hungarian matching, with labels
//   sizes.png           cluster sizes (and their entropy)
//   report.json         the numbers behind them; *.dat and *.gp: each figure's data and
//                       gnuplot script

#include <cstdint>
#include <string>
#include <vector>

#include "dcacn/infer/inference.h"

namespace dcacn {

struct ReportOptions {
  std::string run_dir;
  std::string out_dir;         ///< empty: RUN_DIR/report
  std::string which = "last";  ///< checkpoint: last | best
  std::string device = "auto";
  DataOverrides data;           ///< the data to show (default: the run's dataset)
  int64_t tsne_samples = 2000;  ///< points in the t-SNE (a seeded random subsample)
  int64_t tsne_iterations = 1000;
  int64_t montage_images = 12;  ///< images per cluster in the montage
  uint64_t seed = 0;
  bool progress = true;
  /// What a caller may already hold (`cluster` does): the run's data and the model's outputs
  /// over it (features and probabilities), used instead of reading and running them again.
  const Dataset* dataset = nullptr;
  const ModelOutputs* outputs = nullptr;
};

struct ReportResult {
  std::string index;               ///< path of index.html
  std::vector<std::string> files;  ///< every figure written
};

ReportResult make_report(const ReportOptions& options);

/// Seconds that make_report's figures other than the t-SNE take (curves, montage, confusion,
/// sizes through gnuplot; the HTML page). Measured: bench/results/cluster_budget.md.
constexpr double kReportFigureSeconds = 6.0;

/// What make_report is expected to take for `images` images with `feature_dim` features, for a
/// caller that must fit it in a time budget (`cluster`): its t-SNE timed on random points of the
/// same shape (its setup, and iterations 50-100 timed apart, the rest scaled; t-SNE's cost does
/// not depend on the values), plus kReportFigureSeconds. Takes the setup and 100 iterations.
double estimate_report_seconds(const ReportOptions& options, int64_t images, int64_t feature_dim);

}  // namespace dcacn
