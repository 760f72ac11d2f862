#include "dcacn/report/html_page.h"

#include <sstream>

#include "dcacn/report/figures.h"
#include "dcacn/util/fs.h"

namespace dcacn {
namespace {

const char* kStyle =
    "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;max-width:1900px;color:#222}\n"
    "h1{margin-bottom:4px} h2{margin-top:32px;border-bottom:1px solid #ccc}\n"
    "table{border-collapse:collapse} "
    "td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}\n"
    "th{background:#f3f3f3} td.l,th.l{text-align:left} "
    ".row{display:flex;flex-wrap:wrap;gap:16px}\n"
    "img{max-width:100%} .note{color:#555}\n";

std::string number(double v, const char* spec = "%.4f") { return format_number(spec, v); }

void head(std::ostream& h, const ReportPage& p) {
  const std::string name = html_escape(p.run_name);
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>dcacn report: "
    << name << "</title>\n<style>\n"
    << kStyle << "</style></head><body>\n";
  h << "<h1>dcacn report: " << name << "</h1>\n<p class=\"note\">" << html_escape(p.checkpoint)
    << " &middot; epoch " << p.epoch << ", step " << p.step << " &middot; "
    << html_escape(p.dataset) << ", " << with_thousands(p.images) << " images &middot; "
    << html_escape(p.network) << ", K = " << p.clusters << "</p>\n";
}

void scores(std::ostream& h, const ClusterAnalysis& a, int64_t k) {
  h << "<h2>Scores</h2>\n<table><tr>";
  if (a.has_labels) h << "<th>ACC</th><th>NMI</th><th>ARI</th><th>majority-vote ACC</th>";
  h << "<th>cluster-size entropy</th><th>empty clusters</th></tr>\n<tr>";
  if (a.has_labels) {
    h << "<td>" << number(a.scores.acc) << "</td><td>" << number(a.scores.nmi) << "</td><td>"
      << number(a.scores.ari) << "</td><td>" << number(a.majority_accuracy) << "</td>";
  }
  h << "<td>" << number(a.size_entropy, "%.3f") << "</td><td>" << a.empty_clusters << " of " << k
    << "</td></tr></table>\n";
  if (!a.has_labels) {
    h << "<p class=\"note\">The data has no labels: no scores, confusion matrix or class "
         "colouring.</p>\n";
  }
}

void curves_and_tsne(std::ostream& h, const ReportPage& p, bool has_labels) {
  h << "<h2>Training curves</h2>\n<div class=\"row\">";
  if (p.has_score_curves) h << "<img src=\"curves.png\" alt=\"ACC, NMI and ARI against epoch\">";
  if (p.has_loss_curves) {
    h << "<img src=\"loss.png\" alt=\"losses against epoch\">";
  } else {
    h << "<p class=\"note\">No evaluations in metrics.csv yet.</p>";
  }
  h << "</div>\n";
  if (p.estimated_k > 0) {
    h << "<h2>Number of clusters</h2>\n<div class=\"row\"><img src=\"k_estimate.png\" "
         "alt=\"the number-of-clusters criterion against K\"></div>\n<p class=\"note\">K = "
      << p.estimated_k << " was estimated without labels when the neighbours stage began: "
      << (p.k_by_heads
              ? "for each K, two sets of 8 cluster heads trained from different seeds on the "
                "features of a sample of the images, with their nearest neighbours, and the "
                "mean agreement of each head's clusters with the others' (adjusted Rand index), "
                "less the same on a Gaussian with the features' mean and covariance; the "
                "smallest K within one standard error of the largest difference is chosen "
                "(k_estimate.csv).</p>\n"
              : "for each K, k-means on two independent subsamples of the features, compared on "
                "a common sample (adjusted Rand index, mean of 5 pairs), less the same on a "
                "Gaussian with the features' mean and covariance; the K most stable above that "
                "reference is chosen (k_estimate.csv).</p>\n");
  }
  if (p.tsne_samples == 0) return;
  h << "<h2>t-SNE of the learned features</h2>\n<div class=\"row\">"
    << "<img src=\"tsne_clusters.png\" alt=\"t-SNE by cluster\">";
  if (has_labels) h << "<img src=\"tsne_labels.png\" alt=\"t-SNE by class\">";
  h << "</div>\n<p class=\"note\">" << p.tsne_samples << " images chosen at random (seed "
    << p.tsne_seed << "); final KL divergence " << number(p.tsne_kl, "%.3f") << ".</p>\n";
}

void clusters(std::ostream& h, const ReportPage& p, const ClusterAnalysis& a) {
  h << "<h2>Clusters: the most confident images</h2>\n<table><tr><th>cluster</th><th>size</th>";
  if (a.has_labels) {
    h << "<th>purity</th><th class=\"l\">majority class</th><th class=\"l\">matched class</th>";
  }
  h << "<th class=\"l\">images, most confident first</th></tr>\n";
  for (int64_t j : a.order) {
    h << "<tr><td>" << j << "</td><td>" << a.sizes[j] << "</td>";
    if (a.has_labels) {
      h << "<td>" << number(a.purity[j], "%.3f") << "</td><td class=\"l\">"
        << html_escape(class_name(p.class_names, a.majority_class[j])) << "</td><td class=\"l\">"
        << html_escape(class_name(p.class_names, a.matched_class[j])) << "</td>";
    }
    h << "<td class=\"l\"><img src=\"cluster_" << j << ".png\" alt=\"cluster " << j
      << "\"></td></tr>\n";
  }
  h << "</table>\n<p class=\"note\">All clusters in one image: "
       "<a href=\"montage.png\">montage.png</a>.</p>\n";
}

}  // namespace

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string report_html(const ReportPage& p, const ClusterAnalysis& a) {
  std::ostringstream h;
  head(h, p);
  scores(h, a, p.clusters);
  curves_and_tsne(h, p, a.has_labels);
  clusters(h, p, a);
  if (a.has_labels) {
    h << "<h2>Confusion matrix</h2>\n<img src=\"confusion.png\" alt=\"confusion matrix\">\n";
  }
  h << "<h2>Cluster sizes</h2>\n<img src=\"sizes.png\" alt=\"cluster sizes\">\n";
  h << "<p class=\"note\">Numbers: <a href=\"report.json\">report.json</a>; every figure's data "
       "(.dat) and gnuplot script (.gp) are next to it.</p>\n</body></html>\n";
  return h.str();
}

}  // namespace dcacn
