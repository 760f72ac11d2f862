#include "dcacn/report/report.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "dcacn/augment/transforms.h"
#include "dcacn/io/image_grid.h"
#include "dcacn/metrics/cluster_analysis.h"
#include "dcacn/report/gnuplot.h"
#include "dcacn/report/tsne.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"
#include "dcacn/util/log.h"
#include "dcacn/util/progress.h"

namespace dcacn {
namespace {

namespace fs = std::filesystem;

// Colours that stay distinguishable for up to 20 clusters (then they repeat).
const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                          "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78",
                          "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
                          "#dbdb8d", "#9edae5"};

std::string fmt(const char* spec, double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), spec, v);
  return buffer;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

const std::string kTerminal = "set terminal pngcairo size %d,%d font 'DejaVu Sans,11'\n";

std::string terminal(int w, int h, const std::string& png) {
  char buffer[128];
  std::snprintf(buffer, sizeof(buffer), kTerminal.c_str(), w, h);
  return std::string(buffer) + "set output " + gnuplot_quote(png) + "\n";
}

std::string class_name(const std::vector<std::string>& names, int64_t c) {
  if (c < 0) return "-";
  return c < static_cast<int64_t>(names.size()) ? names[c] : "class " + std::to_string(c);
}

// metrics.csv as rows of name -> text.
std::vector<std::map<std::string, std::string>> read_metrics(const std::string& path) {
  std::vector<std::map<std::string, std::string>> rows;
  if (!is_file(path)) return rows;
  const auto lines = read_lines(path);
  if (lines.empty()) return rows;
  auto split = [](const std::string& line) {
    std::vector<std::string> out(1);
    for (char c : line) {
      if (c == ',') out.emplace_back(); else out.back() += c;
    }
    return out;
  };
  const auto header = split(lines[0]);
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const auto fields = split(lines[i]);
    DCACN_CHECK(fields.size() == header.size(), path, " line ", i + 1, " has ", fields.size(),
                " fields, expected ", header.size());
    std::map<std::string, std::string> row;
    for (size_t j = 0; j < header.size(); ++j) row[header[j]] = fields[j];
    rows.push_back(row);
  }
  return rows;
}

class Writer {
 public:
  explicit Writer(std::string dir) : dir_(std::move(dir)) {}
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  void data(const std::string& name, const std::string& text) { write_file_atomic(path(name), text); }
  void plot(const std::string& name, const std::string& script) {
    run_gnuplot(path(name + ".gp"), script);
    DCACN_CHECK(is_file(path(name + ".png")), "gnuplot wrote no ", path(name + ".png"));
    files.push_back(path(name + ".png"));
  }
  std::vector<std::string> files;

 private:
  std::string dir_;
};

void plot_curves(Writer& w, const std::vector<std::map<std::string, std::string>>& rows,
                 bool* has_scores) {
  std::ostringstream scores, losses;
  scores << "# epoch acc nmi ari\n";
  losses << "# epoch loss instance cluster entropy\n";
  *has_scores = false;
  for (const auto& r : rows) {
    const bool s = !r.at("acc").empty();
    *has_scores = *has_scores || s;
    if (s) scores << r.at("epoch") << " " << r.at("acc") << " " << r.at("nmi") << " " << r.at("ari") << "\n";
    losses << r.at("epoch") << " " << r.at("loss") << " " << r.at("instance_loss") << " "
           << r.at("cluster_loss") << " " << r.at("entropy_term") << "\n";
  }
  const std::string style = "set grid\nset key outside right top\nset xlabel 'epoch'\n";
  if (*has_scores) {
    w.data("curves.dat", scores.str());
    w.plot("curves", terminal(900, 520, "curves.png") + style +
                         "set title 'Clustering quality during training'\nset ylabel 'score'\n"
                         "set yrange [0:1]\n"
                         "plot 'curves.dat' using 1:2 with linespoints lw 2 pt 7 ps 0.7 title 'ACC', \\\n"
                         "     '' using 1:3 with linespoints lw 2 pt 5 ps 0.7 title 'NMI', \\\n"
                         "     '' using 1:4 with linespoints lw 2 pt 9 ps 0.7 title 'ARI'\n");
  }
  w.data("loss.dat", losses.str());
  w.plot("loss", terminal(900, 520, "loss.png") + style +
                     "set title 'Training losses (means between evaluations)'\nset ylabel 'loss'\n"
                     "plot 'loss.dat' using 1:2 with linespoints lw 2 pt 7 ps 0.7 title 'total', \\\n"
                     "     '' using 1:3 with linespoints lw 2 pt 5 ps 0.7 title 'instance', \\\n"
                     "     '' using 1:4 with linespoints lw 2 pt 9 ps 0.7 title 'cluster', \\\n"
                     "     '' using 1:5 with linespoints lw 2 pt 11 ps 0.7 title 'entropy term'\n");
}

std::string colour_lines(int64_t count) {
  std::string s;
  for (int64_t i = 0; i < std::min<int64_t>(count, 20); ++i) {
    s += "set linetype " + std::to_string(i + 1) + " lc rgb '" + kColours[i] + "'\n";
  }
  return s + "set linetype cycle 20\n";
}

// Scatter of tsne.dat (x y cluster label) coloured by `column` (3: cluster, 4: label).
void plot_tsne(Writer& w, const std::string& name, const std::string& title, int column,
               const std::vector<std::pair<int64_t, std::string>>& groups) {
  std::string script = terminal(840, 700, name + ".png") + colour_lines(20) +
                       "set title " + gnuplot_quote(title) + "\n"
                       "unset xtics\nunset ytics\nset key outside right top\nset size ratio -1\n"
                       "plot ";
  for (size_t i = 0; i < groups.size(); ++i) {
    const auto& [value, label] = groups[i];
    script += (i ? ", \\\n     " : "") + std::string("'tsne.dat' using ($") + std::to_string(column) +
              "==" + std::to_string(value) + "?$1:1/0):2 with points pt 7 ps 0.45 lt " +
              std::to_string(i % 20 + 1) + " title " + gnuplot_quote(label);
  }
  w.plot(name, script + "\n");
}

}  // namespace

ReportResult make_report(const ReportOptions& o) {
  DCACN_CHECK(is_directory(o.run_dir), "run directory ", o.run_dir, " not found");
  const std::string out_dir = o.out_dir.empty() ? o.run_dir + "/report" : o.out_dir;
  fs::create_directories(out_dir);
  Writer w(out_dir);

  // Training curves from metrics.csv.
  const auto rows = read_metrics(o.run_dir + "/metrics.csv");
  bool has_score_curves = false;
  if (!rows.empty()) plot_curves(w, rows, &has_score_curves);

  // The model over the whole dataset.
  const TrainedModel model = load_trained_model(o.run_dir, o.device, o.which);
  const Dataset data = load_dataset_for(model, o.data);
  InferenceOptions io = model.inference_options();
  io.embeddings = false;
  io.progress = o.progress ? "running the model" : "";
  const ModelOutputs out = model.run(data.images, io);
  const auto [confidence, assigned] = out.probabilities.max(1);
  const int64_t k = model.clusters();
  const ClusterAnalysis a = analyze_clusters(assigned, k, data.labels);
  const auto& names = data.class_names;

  // Cluster sizes.
  {
    std::ostringstream s;
    s << "# position cluster size\n";
    for (size_t i = 0; i < a.order.size(); ++i) s << i << " " << a.order[i] << " " << a.sizes[a.order[i]] << "\n";
    w.data("sizes.dat", s.str());
    w.plot("sizes", terminal(900, 420, "sizes.png") +
                        "set title " + gnuplot_quote("Cluster sizes (size entropy " + fmt("%.3f", a.size_entropy) + " of 1)") + "\n"
                        "set style fill solid 0.85 border -1\nset boxwidth 0.8\nset grid ytics\n"
                        "set xlabel 'cluster'\nset ylabel 'images'\nset yrange [0:*]\n"
                        "plot 'sizes.dat' using 1:3:xtic(2) with boxes lc rgb '#1f77b4' notitle\n");
  }

  // Confusion matrix after Hungarian matching.
  if (a.has_labels) {
    std::ostringstream s, xt, yt;
    for (int64_t c = 0; c < a.classes; ++c) {
      for (size_t j = 0; j < a.order.size(); ++j) s << (j ? " " : "") << a.count(c, a.order[j]);
      s << "\n";
      yt << (c ? ", " : "") << gnuplot_quote(class_name(names, c)) << " " << c;
    }
    for (size_t j = 0; j < a.order.size(); ++j) xt << (j ? ", " : "") << "'" << a.order[j] << "' " << j;
    w.data("confusion.dat", s.str());
    const int width = static_cast<int>(360 + 48 * k), height = static_cast<int>(200 + 40 * a.classes);
    w.plot("confusion",
           terminal(width, height, "confusion.png") +
               "set title 'Confusion matrix (columns: clusters, matched ones in class order)'\n"
               "unset key\nset xlabel 'cluster'\nset ylabel 'class'\n"
               "set xtics (" + xt.str() + ") scale 0\nset ytics (" + yt.str() + ") scale 0\n"
               "set xrange [-0.5:" + std::to_string(k - 0.5) + "]\n"
               "set yrange [" + std::to_string(a.classes - 0.5) + ":-0.5]\n"
               "set palette defined (0 '#ffffff', 1 '#c6dbef', 2 '#4292c6')\nset cbrange [0:*]\n"
               "set cblabel 'images'\n"
               "plot 'confusion.dat' matrix with image, \\\n"
               "     '' matrix using 1:2:(sprintf('%d', $3)) with labels font ',8' tc rgb '#333333'\n");
  }

  // t-SNE of the features of a seeded random subsample.
  const int64_t n = data.size();
  const int64_t m = std::min(o.tsne_samples, n);
  double kl = 0;
  if (m >= 10) {
    at::Generator gen = at::detail::createCPUGenerator(o.seed);
    const torch::Tensor pick = torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kInt64)).slice(0, 0, m);
    TSNEOptions t;
    t.seed = o.seed;
    t.iterations = o.tsne_iterations;
    t.exaggeration_iterations = std::min<int64_t>(250, o.tsne_iterations / 4);
    Progress progress;
    const TSNEResult r = tsne(out.features.index_select(0, pick), t, [&](int64_t it, double value) {
      if (o.progress) progress.update(c10::str("t-SNE of ", m, " points: iteration ", it, "/", t.iterations, ", KL ", fmt("%.3f", value)));
    });
    progress.finish();
    kl = r.kl_divergence;
    const torch::Tensor cl = assigned.index_select(0, pick);
    const torch::Tensor lab = a.has_labels ? data.labels.index_select(0, pick).contiguous() : torch::Tensor();
    std::ostringstream s;
    s << "# x y cluster label\n";
    const auto y = r.embedding.accessor<float, 2>();
    const auto cla = cl.accessor<int64_t, 1>();
    for (int64_t i = 0; i < m; ++i) {
      s << y[i][0] << " " << y[i][1] << " " << cla[i] << " "
        << (lab.defined() ? lab.data_ptr<int64_t>()[i] : -1) << "\n";
    }
    w.data("tsne.dat", s.str());
    std::vector<std::pair<int64_t, std::string>> by_cluster, by_label;
    for (int64_t j : a.order) {
      by_cluster.emplace_back(j, "cluster " + std::to_string(j) +
                                     (a.has_labels && a.majority_class[j] >= 0 ? " (" + class_name(names, a.majority_class[j]) + ")" : ""));
    }
    plot_tsne(w, "tsne_clusters", "t-SNE of " + std::to_string(m) + " images' features, by cluster", 3, by_cluster);
    if (a.has_labels) {
      for (int64_t c = 0; c < a.classes; ++c) by_label.emplace_back(c, class_name(names, c));
      plot_tsne(w, "tsne_labels", "t-SNE of the same images, by true class", 4, by_label);
    }
  }

  // Montages: the most confident images of each cluster.
  const int64_t per = o.montage_images;
  const int64_t side = data.height();
  const int64_t cell = side < 48 ? 2 * side : side;
  std::vector<std::vector<int64_t>> best(k);
  {
    const torch::Tensor order = confidence.argsort(0, /*descending=*/true);
    const auto id = assigned.accessor<int64_t, 1>();
    const auto ord = order.accessor<int64_t, 1>();
    for (int64_t i = 0; i < n; ++i) {
      auto& list = best[id[ord[i]]];
      if (static_cast<int64_t>(list.size()) < per) list.push_back(ord[i]);
    }
  }
  auto tile = [&](int64_t index) {
    return eval_transform(data.images.slice(0, index, index + 1), side);
  };
  const torch::Tensor blank = torch::ones({1, data.channels(), side, side});
  std::vector<torch::Tensor> columns(per);
  for (int64_t col = 0; col < per; ++col) {
    std::vector<torch::Tensor> cells;
    for (int64_t j : a.order) cells.push_back(col < static_cast<int64_t>(best[j].size()) ? tile(best[j][col]) : blank);
    columns[col] = torch::cat(cells);
  }
  write_png(w.path("montage.png"), make_grid(columns, cell));
  w.files.push_back(w.path("montage.png"));
  for (int64_t j : a.order) {
    std::vector<torch::Tensor> strip;
    for (int64_t col = 0; col < per; ++col) {
      strip.push_back(col < static_cast<int64_t>(best[j].size()) ? tile(best[j][col]) : blank);
    }
    // One row: make_grid puts each batch in a column, so give it one single-image batch each.
    const std::string name = "cluster_" + std::to_string(j) + ".png";
    write_png(w.path(name), make_grid(strip, cell));
    w.files.push_back(w.path(name));
  }

  // report.json and index.html.
  nlohmann::json summary = a.to_json(names);
  summary["checkpoint"] = model.checkpoint;
  summary["epoch"] = model.epoch;
  summary["step"] = model.step;
  summary["dataset"] = data.name;
  summary["tsne"] = {{"samples", m}, {"kl_divergence", kl}, {"seed", o.seed}};
  write_file_atomic(w.path("report.json"), summary.dump(2) + "\n");

  std::ostringstream h;
  const std::string run_name = fs::path(fs::absolute(o.run_dir)).lexically_normal().filename().string();
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>dcacn report: "
    << html_escape(run_name) << "</title>\n<style>\n"
    << "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;max-width:1900px;color:#222}\n"
    << "h1{margin-bottom:4px} h2{margin-top:32px;border-bottom:1px solid #ccc}\n"
    << "table{border-collapse:collapse} td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}\n"
    << "th{background:#f3f3f3} td.l,th.l{text-align:left} .row{display:flex;flex-wrap:wrap;gap:16px}\n"
    << "img{max-width:100%} .note{color:#555}\n</style></head><body>\n";
  h << "<h1>dcacn report: " << html_escape(run_name) << "</h1>\n<p class=\"note\">"
    << html_escape(model.checkpoint) << " &middot; epoch " << model.epoch << ", step " << model.step
    << " &middot; " << html_escape(data.name) << ", " << with_thousands(n) << " images &middot; "
    << "ResNet-" << model.config.depth << " width " << model.config.width << ", attention "
    << html_escape(model.config.attention) << ", K = " << k << "</p>\n";
  h << "<h2>Scores</h2>\n<table><tr>";
  if (a.has_labels) h << "<th>ACC</th><th>NMI</th><th>ARI</th><th>majority-vote ACC</th>";
  h << "<th>cluster-size entropy</th><th>empty clusters</th></tr>\n<tr>";
  if (a.has_labels) {
    h << "<td>" << fmt("%.4f", a.scores.acc) << "</td><td>" << fmt("%.4f", a.scores.nmi) << "</td><td>"
      << fmt("%.4f", a.scores.ari) << "</td><td>" << fmt("%.4f", a.majority_accuracy) << "</td>";
  }
  h << "<td>" << fmt("%.3f", a.size_entropy) << "</td><td>" << a.empty_clusters << " of " << k
    << "</td></tr></table>\n";
  if (!a.has_labels) h << "<p class=\"note\">The data has no labels: no scores, confusion matrix or class colouring.</p>\n";
  h << "<h2>Training curves</h2>\n<div class=\"row\">";
  if (has_score_curves) h << "<img src=\"curves.png\" alt=\"ACC, NMI and ARI against epoch\">";
  if (!rows.empty()) {
    h << "<img src=\"loss.png\" alt=\"losses against epoch\">";
  } else {
    h << "<p class=\"note\">No evaluations in metrics.csv yet.</p>";
  }
  h << "</div>\n";
  if (m >= 10) {
    h << "<h2>t-SNE of the learned features</h2>\n<div class=\"row\"><img src=\"tsne_clusters.png\" alt=\"t-SNE by cluster\">";
    if (a.has_labels) h << "<img src=\"tsne_labels.png\" alt=\"t-SNE by class\">";
    h << "</div>\n<p class=\"note\">" << m << " images chosen at random (seed " << o.seed
      << "); final KL divergence " << fmt("%.3f", kl) << ".</p>\n";
  }
  h << "<h2>Clusters: the most confident images</h2>\n<table><tr><th>cluster</th><th>size</th>";
  if (a.has_labels) h << "<th>purity</th><th class=\"l\">majority class</th><th class=\"l\">matched class</th>";
  h << "<th class=\"l\">images, most confident first</th></tr>\n";
  for (int64_t j : a.order) {
    h << "<tr><td>" << j << "</td><td>" << a.sizes[j] << "</td>";
    if (a.has_labels) {
      h << "<td>" << fmt("%.3f", a.purity[j]) << "</td><td class=\"l\">" << html_escape(class_name(names, a.majority_class[j]))
        << "</td><td class=\"l\">" << html_escape(class_name(names, a.matched_class[j])) << "</td>";
    }
    h << "<td class=\"l\"><img src=\"cluster_" << j << ".png\" alt=\"cluster " << j << "\"></td></tr>\n";
  }
  h << "</table>\n<p class=\"note\">All clusters in one image: <a href=\"montage.png\">montage.png</a>.</p>\n";
  if (a.has_labels) h << "<h2>Confusion matrix</h2>\n<img src=\"confusion.png\" alt=\"confusion matrix\">\n";
  h << "<h2>Cluster sizes</h2>\n<img src=\"sizes.png\" alt=\"cluster sizes\">\n";
  h << "<p class=\"note\">Numbers: <a href=\"report.json\">report.json</a>; every figure's data (.dat) and gnuplot script (.gp) are next to it.</p>\n</body></html>\n";
  ReportResult result;
  result.index = w.path("index.html");
  write_file_atomic(result.index, h.str());
  result.files = w.files;
  return result;
}

}  // namespace dcacn
