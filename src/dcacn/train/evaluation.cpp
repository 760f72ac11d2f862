#include "dcacn/train/evaluation.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "dcacn/cluster/kmeans.h"
#include "dcacn/infer/inference.h"
#include "dcacn/metrics/cluster_analysis.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/log.h"

namespace dcacn {
namespace {

std::string percent(double fraction) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f%%", 100 * fraction);
  return buffer;
}

}  // namespace

bool EvalResult::collapsing(int64_t clusters) const {
  return largest_cluster_fraction > 0.9 || empty_clusters > clusters / 2;
}

std::string EvalResult::summary() const {
  std::string line = has_labels ? format_scores(scores) + ", " : "";
  return line +
         c10::str(empty_clusters, " empty clusters, largest ", percent(largest_cluster_fraction));
}

EvalResult evaluate(DCACNImpl& model, const Dataset& data, int64_t image_size, int64_t batch_size,
                    bool bf16, bool channels_last, bool keep_features) {
  InferenceOptions o;
  o.batch_size = batch_size;
  o.bf16 = bf16;
  o.channels_last = channels_last;
  o.features = keep_features;
  o.embeddings = false;
  const ModelOutputs out = run_model(model, data.images, image_size, o);
  EvalResult r = evaluate_predictions(out.probabilities.argmax(1),
                                      keep_features ? out.features : torch::Tensor(),
                                      model.options.clusters(), data.labels);
  if (keep_features) r.probabilities = out.probabilities.to(torch::kFloat32);
  return r;
}

EvalResult evaluate_predictions(const torch::Tensor& predictions, const torch::Tensor& features,
                                int64_t clusters, const torch::Tensor& labels) {
  EvalResult r;
  r.predictions = predictions;
  r.features = features;
  // The same sizes, entropy and scores `dcacn evaluate` reports.
  const ClusterAnalysis a = analyze_clusters(r.predictions, clusters, labels);
  r.cluster_sizes = a.sizes;
  r.empty_clusters = a.empty_clusters;
  r.largest_cluster_fraction =
      static_cast<double>(*std::max_element(a.sizes.begin(), a.sizes.end())) /
      std::max<int64_t>(1, predictions.size(0));
  r.size_entropy = a.size_entropy;
  r.has_labels = a.has_labels;
  if (a.has_labels) r.scores = a.scores;
  return r;
}

void write_final_report(const std::string& path, const EvalResult& ev, const torch::Tensor& labels,
                        const FinalReportInfo& info) {
  nlohmann::json out = {{"step", info.step},
                        {"train_seconds", info.train_seconds},
                        {"training_images_per_second", info.training_images_per_second},
                        {"cluster_sizes", ev.cluster_sizes},
                        {"empty_clusters", ev.empty_clusters}};
  if (ev.has_labels) {
    out["cluster_head"] = {{"acc", ev.scores.acc}, {"nmi", ev.scores.nmi}, {"ari", ev.scores.ari}};
    KMeansOptions km;
    km.k = info.clusters;
    km.seed = info.seed;
    const KMeansResult fit = kmeans(ev.features, km);
    const ClusteringScores s = score_clustering(labels, fit.labels);
    out["kmeans_on_features"] = {{"acc", s.acc}, {"nmi", s.nmi}, {"ari", s.ari}};
    log_info(c10::str("k-means on the learned features: ", format_scores(s)));
  }
  write_file_atomic(path, out.dump(2) + "\n");
}

}  // namespace dcacn
