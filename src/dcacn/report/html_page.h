#pragma once
// The report's index.html: every figure with the numbers behind it.

#include <string>
#include <vector>

#include "dcacn/metrics/cluster_analysis.h"

namespace dcacn {

/// What the page says besides the figures.
struct ReportPage {
  std::string run_name;
  std::string checkpoint;
  int64_t epoch = 0;
  int64_t step = 0;
  std::string dataset;
  int64_t images = 0;
  std::string network;  ///< "resnet34 width 16, attention cbam"
  int64_t clusters = 0;
  bool has_score_curves = false;
  bool has_loss_curves = false;
  /// > 0: the run estimated K and this was chosen (k_estimate.png).
  int64_t estimated_k = 0;
  /// How: the agreement of neighbour heads (true) or the stability of k-means (false).
  bool k_by_heads = false;
  int64_t tsne_samples = 0;  ///< 0: no t-SNE
  uint64_t tsne_seed = 0;
  double tsne_kl = 0;
  std::vector<std::string> class_names;
};

/// The HTML of the page, for the clusters analysed in `a`.
std::string report_html(const ReportPage& page, const ClusterAnalysis& a);

/// &, <, > and " escaped.
std::string html_escape(const std::string& text);

}  // namespace dcacn
