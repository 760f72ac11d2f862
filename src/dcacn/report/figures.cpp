#include "dcacn/report/figures.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "dcacn/report/gnuplot.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"

namespace dcacn {
namespace {

// Colours that stay distinguishable for up to 20 clusters (then they repeat).
const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                          "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
                          "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"};

std::string terminal(int w, int h, const std::string& png) {
  char buffer[128];
  std::snprintf(buffer, sizeof(buffer), "set terminal pngcairo size %d,%d font 'DejaVu Sans,11'\n",
                w, h);
  return std::string(buffer) + "set output " + gnuplot_quote(png) + "\n";
}

std::string colour_lines(int64_t count) {
  std::string s;
  for (int64_t i = 0; i < std::min<int64_t>(count, 20); ++i) {
    s += "set linetype " + std::to_string(i + 1) + " lc rgb '" + kColours[i] + "'\n";
  }
  return s + "set linetype cycle 20\n";
}

std::vector<std::string> split_commas(const std::string& line) {
  std::vector<std::string> out(1);
  for (char c : line) {
    if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

// Scatter of tsne.dat (x y cluster label) coloured by `column` (3: cluster, 4: label).
void plot_tsne(ReportWriter& w, const std::string& name, const std::string& title, int column,
               const std::vector<std::pair<int64_t, std::string>>& groups) {
  std::string script = terminal(840, 700, name + ".png") + colour_lines(20) + "set title " +
                       gnuplot_quote(title) +
                       "\nunset xtics\nunset ytics\nset key outside right top\n"
                       "set size ratio -1\nplot ";
  for (size_t i = 0; i < groups.size(); ++i) {
    const auto& [value, label] = groups[i];
    script += (i ? ", \\\n     " : "") + std::string("'tsne.dat' using ($") +
              std::to_string(column) + "==" + std::to_string(value) +
              "?$1:1/0):2 with points pt 7 ps 0.45 lt " + std::to_string(i % 20 + 1) + " title " +
              gnuplot_quote(label);
  }
  w.plot(name, script + "\n");
}

}  // namespace

void ReportWriter::data(const std::string& name, const std::string& text) {
  write_file_atomic(path(name), text);
}

void ReportWriter::plot(const std::string& name, const std::string& script) {
  run_gnuplot(path(name + ".gp"), script);
  DCACN_CHECK(is_file(path(name + ".png")), "gnuplot wrote no ", path(name + ".png"));
  add(name + ".png");
}

std::string class_name(const std::vector<std::string>& names, int64_t c) {
  if (c < 0) return "-";
  return c < static_cast<int64_t>(names.size()) ? names[c] : "class " + std::to_string(c);
}

std::string format_number(const char* spec, double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), spec, v);
  return buffer;
}

MetricsRows read_metrics_rows(const std::string& path) {
  MetricsRows rows;
  if (!is_file(path)) return rows;
  const auto lines = read_lines(path);
  if (lines.empty()) return rows;
  const auto header = split_commas(lines[0]);
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const auto fields = split_commas(lines[i]);
    DCACN_CHECK(fields.size() == header.size(), path, " line ", i + 1, " has ", fields.size(),
                " fields, expected ", header.size());
    std::map<std::string, std::string> row;
    for (size_t j = 0; j < header.size(); ++j) row[header[j]] = fields[j];
    rows.push_back(row);
  }
  return rows;
}

namespace {

const char* stage_title(const std::string& stage) {
  if (stage == "1") return "contrastive";
  if (stage == "2") return "selflabel";
  if (stage == "3") return "neighbours";
  if (stage == "4") return "scan";
  return "stage";
}

}  // namespace

bool plot_training_curves(ReportWriter& w, const MetricsRows& rows) {
  // x: minutes of the run's clock, so that runs shorter than an epoch have a curve too.
  std::ostringstream scores, losses, marks;
  scores << "# minutes acc nmi ari\n";
  losses << "# minutes loss instance cluster entropy\n";
  bool has_scores = false;
  std::string previous_stage, previous_x = "0";
  for (const auto& r : rows) {
    const std::string x = format_number("%.3f", std::atof(r.at("wall_seconds").c_str()) / 60.0);
    const bool s = !r.at("acc").empty();
    has_scores = has_scores || s;
    if (s) scores << x << " " << r.at("acc") << " " << r.at("nmi") << " " << r.at("ari") << "\n";
    const auto stage = r.find("stage");
    const std::string kind = stage == r.end() ? "" : stage->second;
    // A stage began after the row before its first: a dashed line there, named.
    if (!kind.empty() && kind != previous_stage) {
      marks << "set arrow from " << previous_x << ", graph 0 to " << previous_x
            << ", graph 1 nohead dt 2 lc rgb '#888888'\nset label "
            << gnuplot_quote(stage_title(kind)) << " at " << previous_x
            << ", graph 0.04 offset 0.3, 0 font ',8' tc rgb '#555555'\n";
    }
    previous_stage = kind;
    previous_x = x;
    // The neighbour and scan stages' rows (stages 3 and 4) hold another objective than the
    // contrastive losses.
    if (kind == "3" || kind == "4") continue;
    losses << x << " " << r.at("loss") << " " << r.at("instance_loss") << " "
           << r.at("cluster_loss") << " " << r.at("entropy_term") << "\n";
  }
  const std::string style =
      "set grid\nset key outside right top\nset xlabel 'minutes of the run'\nset xrange [0:*]\n" +
      marks.str();
  const std::string line = " with linespoints lw 2 ps 0.7";
  if (has_scores) {
    w.data("curves.dat", scores.str());
    w.plot("curves", terminal(900, 520, "curves.png") + style +
                         "set title 'Clustering quality during training'\nset ylabel 'score'\n"
                         "set yrange [0:1]\nplot 'curves.dat' using 1:2" +
                         line + " pt 7 title 'ACC', \\\n     '' using 1:3" + line +
                         " pt 5 title 'NMI', \\\n     '' using 1:4" + line + " pt 9 title 'ARI'\n");
  }
  w.data("loss.dat", losses.str());
  w.plot("loss", terminal(900, 520, "loss.png") + style +
                     "set title 'Training losses (means between evaluations)'\n"
                     "set ylabel 'loss'\nplot 'loss.dat' using 1:2" +
                     line + " pt 7 title 'total', \\\n     '' using 1:3" + line +
                     " pt 5 title 'instance', \\\n     '' using 1:4" + line +
                     " pt 9 title 'cluster', \\\n     '' using 1:5" + line +
                     " pt 11 title 'entropy term'\n");
  return has_scores;
}

KEstimatePlot plot_k_estimate(ReportWriter& w, const MetricsRows& rows) {
  KEstimatePlot out;
  out.by_heads = !rows.empty() && rows.front().count("agreement") > 0;
  const char* measure = out.by_heads ? "agreement" : "stability";
  const char* error = out.by_heads ? "standard_error" : "spread";
  double chosen_value = 0;
  std::ostringstream s;
  s << "# k " << measure << " " << error << " reference criterion\n";
  for (const auto& row : rows) {
    for (const char* column : {"k", measure, error, "reference", "criterion", "chosen"}) {
      DCACN_CHECK(row.count(column), "k_estimate.csv lacks the column ", column, " (expected k,",
                  measure, ",", error, ",reference,criterion,chosen)");
    }
    s << row.at("k") << " " << row.at(measure) << " " << row.at(error) << " " << row.at("reference")
      << " " << row.at("criterion") << "\n";
    if (row.at("chosen") == "1") {
      out.chosen = std::stoll(row.at("k"));
      chosen_value = std::stod(row.at("criterion"));
    }
  }
  if (rows.empty() || out.chosen == 0) return {};
  w.data("k_estimate.dat", s.str());
  const std::string k = std::to_string(out.chosen);
  const std::string title = "Number of clusters: K = " + k +
                            (out.by_heads ? " (heads' agreement less the reference's; one-SE rule)"
                                          : " (stability less the reference's)");
  // Heads: the error bars are the criterion's; stability: the features' spread over the pairs.
  const std::string curves =
      out.by_heads
          ? "plot 'k_estimate.dat' using 1:2 with linespoints lc rgb '#1f77b4' pt 7 ps 0.7 "
            "title 'features', '' using 1:4 with linespoints lc rgb '#7f7f7f' pt 6 ps 0.7 "
            "title 'Gaussian reference', '' using 1:5:3 with yerrorlines lc rgb '#2ca02c' pt 5 "
            "ps 0.7 title 'difference (criterion) +/- standard error', "
          : "plot 'k_estimate.dat' using 1:2:3 with yerrorlines lc rgb '#1f77b4' pt 7 ps 0.7 "
            "title 'features', '' using 1:4 with linespoints lc rgb '#7f7f7f' pt 6 ps 0.7 "
            "title 'Gaussian reference', '' using 1:5 with linespoints lc rgb '#2ca02c' pt 5 "
            "ps 0.7 title 'difference (criterion)', ";
  w.plot("k_estimate",
         terminal(900, 420, "k_estimate.png") + "set title " + gnuplot_quote(title) +
             "\nset grid\nset xlabel 'K'\nset ylabel " +
             (out.by_heads ? "'mean ARI between heads from different seeds'"
                           : "'ARI of two fits on independent subsamples'") +
             "\nset xtics 1\nset key outside right\n"
             "set arrow from " +
             k + ", graph 0 to " + k + ", graph 1 nohead dt 2 lc rgb '#d62728'\n" + curves +
             "'-' using 1:2 with points pt 7 ps 1.8 lc rgb '#d62728' title 'chosen'\n" + k + " " +
             format_number("%.6f", chosen_value) + "\ne\n");
  return out;
}

void plot_cluster_sizes(ReportWriter& w, const ClusterAnalysis& a) {
  std::ostringstream s;
  s << "# position cluster size\n";
  for (size_t i = 0; i < a.order.size(); ++i) {
    s << i << " " << a.order[i] << " " << a.sizes[a.order[i]] << "\n";
  }
  w.data("sizes.dat", s.str());
  const std::string title =
      "Cluster sizes (size entropy " + format_number("%.3f", a.size_entropy) + " of 1)";
  w.plot("sizes", terminal(900, 420, "sizes.png") + "set title " + gnuplot_quote(title) +
                      "\nset style fill solid 0.85 border -1\nset boxwidth 0.8\n"
                      "set grid ytics\nset xlabel 'cluster'\nset ylabel 'images'\n"
                      "set yrange [0:*]\n"
                      "plot 'sizes.dat' using 1:3:xtic(2) with boxes lc rgb '#1f77b4' notitle\n");
}

void plot_confusion(ReportWriter& w, const ClusterAnalysis& a,
                    const std::vector<std::string>& names) {
  const int64_t k = static_cast<int64_t>(a.order.size());
  std::ostringstream s, xt, yt;
  for (int64_t c = 0; c < a.classes; ++c) {
    for (int64_t j = 0; j < k; ++j) s << (j ? " " : "") << a.count(c, a.order[j]);
    s << "\n";
    yt << (c ? ", " : "") << gnuplot_quote(class_name(names, c)) << " " << c;
  }
  for (int64_t j = 0; j < k; ++j) xt << (j ? ", " : "") << "'" << a.order[j] << "' " << j;
  w.data("confusion.dat", s.str());
  // The title on two lines and a canvas no narrower than its second: with two or three
  // clusters the one-line title was cut at both ends.
  const int width = static_cast<int>(std::max<int64_t>(480, 360 + 48 * k));
  const int height = static_cast<int>(220 + 40 * a.classes);
  w.plot("confusion",
         terminal(width, height, "confusion.png") +
             "set title \"Confusion matrix\\n(columns: clusters, matched ones in class "
             "order)\"\n"
             "unset key\nset xlabel 'cluster'\nset ylabel 'class'\nset xtics (" +
             xt.str() + ") scale 0\nset ytics (" + yt.str() + ") scale 0\nset xrange [-0.5:" +
             std::to_string(k - 0.5) + "]\nset yrange [" + std::to_string(a.classes - 0.5) +
             ":-0.5]\nset palette defined (0 '#ffffff', 1 '#c6dbef', 2 '#4292c6')\n"
             "set cbrange [0:*]\nset cblabel 'images'\n"
             "plot 'confusion.dat' matrix with image, \\\n"
             "     '' matrix using 1:2:(sprintf('%d', $3)) with labels font ',8' tc rgb "
             "'#333333'\n");
}

void plot_tsne_figures(ReportWriter& w, const TsneFigureInput& in, const ClusterAnalysis& a,
                       const std::vector<std::string>& names) {
  const int64_t m = in.points.size(0);
  std::ostringstream s;
  s << "# x y cluster label\n";
  const torch::Tensor points = in.points.to(torch::kFloat32).contiguous();
  const auto y = points.accessor<float, 2>();
  const auto cl = in.clusters.accessor<int64_t, 1>();
  const torch::Tensor labels = in.labels.defined() ? in.labels.contiguous() : in.labels;
  for (int64_t i = 0; i < m; ++i) {
    s << y[i][0] << " " << y[i][1] << " " << cl[i] << " "
      << (labels.defined() ? labels.data_ptr<int64_t>()[i] : -1) << "\n";
  }
  w.data("tsne.dat", s.str());
  std::vector<std::pair<int64_t, std::string>> by_cluster, by_label;
  for (int64_t j : a.order) {
    const bool named = a.has_labels && a.majority_class[j] >= 0;
    by_cluster.emplace_back(j,
                            "cluster " + std::to_string(j) +
                                (named ? " (" + class_name(names, a.majority_class[j]) + ")" : ""));
  }
  plot_tsne(w, "tsne_clusters", "t-SNE of " + std::to_string(m) + " images' features, by cluster",
            3, by_cluster);
  if (a.has_labels) {
    for (int64_t c = 0; c < a.classes; ++c) by_label.emplace_back(c, class_name(names, c));
    plot_tsne(w, "tsne_labels", "t-SNE of the same images, by true class", 4, by_label);
  }
}

}  // namespace dcacn
