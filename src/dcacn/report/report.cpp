#include "dcacn/report/report.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <vector>

#include "dcacn/metrics/cluster_analysis.h"
#include "dcacn/report/figures.h"
#include "dcacn/report/html_page.h"
#include "dcacn/report/montage.h"
#include "dcacn/report/tsne.h"
#include "dcacn/run/config.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/progress.h"

namespace dcacn {
namespace {

namespace fs = std::filesystem;

// The t-SNE of a seeded random subsample's features, drawn; the page's summary of it.
void tsne_section(ReportWriter& w, const ReportOptions& o, const torch::Tensor& features,
                  const torch::Tensor& assigned, const Dataset& data, const ClusterAnalysis& a,
                  ReportPage* page) {
  const int64_t n = data.size(), m = std::min(o.tsne_samples, n);
  if (m < 10) return;
  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  const torch::Tensor pick =
      torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kInt64)).slice(0, 0, m);
  TSNEOptions t;
  t.seed = o.seed;
  t.iterations = o.tsne_iterations;
  t.exaggeration_iterations = std::min<int64_t>(250, o.tsne_iterations / 4);
  Progress progress;
  const TSNEResult r = tsne(features.index_select(0, pick), t, [&](int64_t it, double value) {
    if (!o.progress) return;
    progress.update(c10::str("t-SNE of ", m, " points: iteration ", it, "/", t.iterations, ", KL ",
                             format_number("%.3f", value)));
  });
  progress.finish();
  TsneFigureInput input;
  input.points = r.embedding;
  input.clusters = assigned.index_select(0, pick).contiguous();
  if (a.has_labels) input.labels = data.labels.index_select(0, pick);
  plot_tsne_figures(w, input, a, data.class_names);
  page->tsne_samples = m;
  page->tsne_seed = o.seed;
  page->tsne_kl = r.kl_divergence;
}

ReportPage page_header(const ReportOptions& o, const TrainedModel& model, const Dataset& data) {
  ReportPage page;
  page.run_name = fs::path(fs::absolute(o.run_dir)).lexically_normal().filename().string();
  page.checkpoint = model.checkpoint;
  page.epoch = model.epoch;
  page.step = model.step;
  page.dataset = data.name;
  page.images = data.size();
  page.network = architecture_name(model.network.depth()) + " width " +
                 std::to_string(model.network.width()) + ", attention " +
                 attention_name(model.network.attention());
  page.clusters = model.clusters();
  page.class_names = data.class_names;
  return page;
}

void write_summary(ReportWriter& w, const ClusterAnalysis& a, const ReportPage& page) {
  nlohmann::json summary = a.to_json(page.class_names);
  summary["checkpoint"] = page.checkpoint;
  summary["epoch"] = page.epoch;
  summary["step"] = page.step;
  summary["dataset"] = page.dataset;
  summary["tsne"] = {
      {"samples", page.tsne_samples}, {"kl_divergence", page.tsne_kl}, {"seed", page.tsne_seed}};
  write_file_atomic(w.path("report.json"), summary.dump(2) + "\n");
}

}  // namespace

double estimate_report_seconds(const ReportOptions& o, int64_t images, int64_t feature_dim) {
  const int64_t m = std::min(o.tsne_samples, images);
  if (m < 10) return kReportFigureSeconds;  // tsne_section draws nothing then
  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  const torch::Tensor x = torch::randn({m, feature_dim}, gen);
  // One short t-SNE, its iterations timed apart from its setup (PCA, distances, the bandwidths'
  // bisection) by the clock at its progress calls: iterations 50 to 100 give an iteration's
  // cost, and what came before the 50th less 50 of those the setup's (not the difference of a
  // 25-iteration run's time and the setup's, scaled by 40). The estimate runs first thing in a
  // fresh process: with glibc's default malloc its iterations faulted their pages in afresh
  // and ran 4x slower than in a second call (31 s estimated, then 7; 7 s with the settings of
  // util/allocator.h, which `dcacn` makes). It still errs by the machine's speed between the
  // run's start and its end (2026-12-05: 13-23 s estimated, 7-10 s taken).
  TSNEOptions t;
  t.seed = o.seed;
  t.iterations = 100;
  t.exaggeration_iterations = 100;  // no effect on the cost of an iteration
  using Clock = std::chrono::steady_clock;
  std::vector<Clock::time_point> marks;
  const auto start = Clock::now();
  tsne(x, t, [&](int64_t, double) { marks.push_back(Clock::now()); });
  TORCH_CHECK(marks.size() == 2, "estimate_report_seconds: expected 2 progress calls, got ",
              marks.size());
  const double per_iteration = std::chrono::duration<double>(marks[1] - marks[0]).count() / 50;
  const double setup =
      std::max(0.0, std::chrono::duration<double>(marks[0] - start).count() - 50 * per_iteration);
  return kReportFigureSeconds + setup + per_iteration * static_cast<double>(o.tsne_iterations);
}

ReportResult make_report(const ReportOptions& o) {
  DCACN_CHECK(is_directory(o.run_dir), "run directory ", o.run_dir, " not found");
  const std::string out_dir = o.out_dir.empty() ? o.run_dir + "/report" : o.out_dir;
  fs::create_directories(out_dir);
  ReportWriter w(out_dir);
  const MetricsRows rows = read_metrics_rows(o.run_dir + "/metrics.csv");
  const bool score_curves = !rows.empty() && plot_training_curves(w, rows);

  // The model over the whole dataset.
  const TrainedModel model = load_trained_model(o.run_dir, o.device, o.which);
  Dataset loaded;
  if (o.dataset == nullptr) loaded = load_dataset_for(model, o.data);
  const Dataset& data = o.dataset != nullptr ? *o.dataset : loaded;
  ModelOutputs computed;
  if (o.outputs == nullptr) {
    InferenceOptions io = model.inference_options();
    io.embeddings = false;
    io.progress = o.progress ? "running the model" : "";
    computed = model.run(data.images, io);
  }
  const ModelOutputs& out = o.outputs != nullptr ? *o.outputs : computed;
  TORCH_CHECK(out.features.defined() && out.features.size(0) == data.size() &&
                  out.probabilities.size(0) == data.size() &&
                  out.probabilities.size(1) == model.clusters(),
              "make_report: the outputs given are not the model's over the data");
  const auto [confidence, assigned] = out.probabilities.max(1);
  const ClusterAnalysis a = analyze_clusters(assigned, model.clusters(), data.labels);

  ReportPage page = page_header(o, model, data);
  page.has_score_curves = score_curves;
  page.has_loss_curves = !rows.empty();
  const KEstimatePlot k = plot_k_estimate(w, read_metrics_rows(o.run_dir + "/k_estimate.csv"));
  page.estimated_k = k.chosen;
  page.k_by_heads = k.by_heads;
  plot_cluster_sizes(w, a);
  if (a.has_labels) plot_confusion(w, a, data.class_names);
  tsne_section(w, o, out.features, assigned, data, a, &page);
  write_montages(w, data, most_confident(assigned, confidence, model.clusters(), o.montage_images),
                 a.order, o.montage_images);
  write_summary(w, a, page);
  ReportResult result;
  result.index = w.path("index.html");
  write_file_atomic(result.index, report_html(page, a));
  result.files = w.files();
  return result;
}

}  // namespace dcacn
