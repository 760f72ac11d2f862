#include "dcacn/metrics/cluster_analysis.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "dcacn/metrics/hungarian.h"
#include "dcacn/util/error.h"

namespace dcacn {
namespace {

std::string class_name(const std::vector<std::string>& names, int64_t c) {
  if (c < 0) return "-";
  return c < static_cast<int64_t>(names.size()) ? names[c] : std::to_string(c);
}

std::string format(const char* spec, double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), spec, value);
  return buffer;
}

}  // namespace

ClusterAnalysis analyze_clusters(const torch::Tensor& predictions, int64_t k,
                                 const torch::Tensor& labels) {
  DCACN_CHECK(k >= 1, "the number of clusters must be positive, got ", k);
  const torch::Tensor pred = predictions.to(torch::kCPU, torch::kInt64).contiguous();
  DCACN_CHECK(pred.dim() == 1, "predictions must be a vector, got ", pred.sizes());
  ClusterAnalysis a;
  a.samples = pred.size(0);
  a.clusters = k;
  if (a.samples > 0) {
    DCACN_CHECK(pred.min().item<int64_t>() >= 0 && pred.max().item<int64_t>() < k,
                "cluster ids must lie in [0, ", k, ")");
  }
  const torch::Tensor sizes = torch::bincount(pred, {}, k);
  a.sizes.assign(sizes.data_ptr<int64_t>(), sizes.data_ptr<int64_t>() + k);
  double entropy = 0;
  for (int64_t s : a.sizes) {
    a.empty_clusters += s == 0;
    if (s > 0) {
      const double f = static_cast<double>(s) / static_cast<double>(a.samples);
      entropy -= f * std::log(f);
    }
  }
  a.size_entropy = k > 1 ? entropy / std::log(static_cast<double>(k)) : 0.0;
  a.order.resize(k);
  for (int64_t j = 0; j < k; ++j) a.order[j] = j;
  if (!labels.defined()) return a;

  const torch::Tensor y = labels.to(torch::kCPU, torch::kInt64).contiguous();
  DCACN_CHECK(y.dim() == 1 && y.size(0) == a.samples, "expected ", a.samples, " labels, got ",
              y.sizes());
  DCACN_CHECK(a.samples == 0 || y.min().item<int64_t>() >= 0, "labels must be non-negative");
  a.has_labels = true;
  a.classes = a.samples > 0 ? y.max().item<int64_t>() + 1 : 0;
  const torch::Tensor table = torch::bincount(y * k + pred, {}, a.classes * k);
  a.counts.assign(table.data_ptr<int64_t>(), table.data_ptr<int64_t>() + a.classes * k);
  const std::vector<int64_t> yv(y.data_ptr<int64_t>(), y.data_ptr<int64_t>() + a.samples);
  const std::vector<int64_t> pv(pred.data_ptr<int64_t>(), pred.data_ptr<int64_t>() + a.samples);
  a.scores = score_clustering(yv, pv);

  int64_t majority_total = 0;
  a.majority_class.assign(k, -1);
  a.purity.assign(k, 0.0);
  for (int64_t j = 0; j < k; ++j) {
    int64_t best = -1, best_count = 0;
    for (int64_t c = 0; c < a.classes; ++c) {
      if (a.count(c, j) > best_count) best = c, best_count = a.count(c, j);
    }
    a.majority_class[j] = best;
    majority_total += best_count;
    if (a.sizes[j] > 0) a.purity[j] = static_cast<double>(best_count) / a.sizes[j];
  }
  a.majority_accuracy = a.samples > 0 ? static_cast<double>(majority_total) / a.samples : 0.0;

  // Hungarian matching over the full classes x K table (empty rows and columns included).
  const Contingency full{[&] {
                           std::vector<int64_t> v(a.classes);
                           for (int64_t c = 0; c < a.classes; ++c) v[c] = c;
                           return v;
                         }(),
                         a.order, a.counts, a.samples};
  a.matched_class = match_clusters_to_classes(full);
  std::stable_sort(a.order.begin(), a.order.end(), [&](int64_t i, int64_t j) {
    const int64_t ci = a.matched_class[i] < 0 ? a.classes + i : a.matched_class[i];
    const int64_t cj = a.matched_class[j] < 0 ? a.classes + j : a.matched_class[j];
    return ci < cj;
  });
  return a;
}

nlohmann::json ClusterAnalysis::to_json(const std::vector<std::string>& names) const {
  nlohmann::json out = {{"samples", samples},
                        {"clusters", clusters},
                        {"empty_clusters", empty_clusters},
                        {"cluster_size_entropy", size_entropy}};
  nlohmann::json per = nlohmann::json::array();
  for (int64_t j = 0; j < clusters; ++j) {
    nlohmann::json c = {{"cluster", j}, {"size", sizes[j]}};
    if (has_labels) {
      c["purity"] = purity[j];
      c["majority_class"] = class_name(names, majority_class[j]);
      c["matched_class"] = class_name(names, matched_class[j]);
    }
    per.push_back(c);
  }
  out["per_cluster"] = per;
  if (has_labels) {
    out["acc"] = scores.acc;
    out["nmi"] = scores.nmi;
    out["ari"] = scores.ari;
    out["majority_vote_acc"] = majority_accuracy;
    nlohmann::json rows = nlohmann::json::array(), row_names = nlohmann::json::array();
    for (int64_t c = 0; c < classes; ++c) {
      nlohmann::json row = nlohmann::json::array();
      for (int64_t j : order) row.push_back(count(c, j));
      rows.push_back(row);
      row_names.push_back(class_name(names, c));
    }
    out["confusion"] = {{"classes", row_names}, {"cluster_order", order}, {"counts", rows}};
  }
  return out;
}

std::string ClusterAnalysis::to_text(const std::vector<std::string>& names) const {
  std::ostringstream s;
  if (has_labels) {
    s << format_scores(scores) << "  majority-vote ACC " << format("%.4f", majority_accuracy)
      << "\n";
  }
  s << "cluster-size entropy " << format("%.3f", size_entropy) << " (1 = equal sizes), "
    << empty_clusters << " empty of " << clusters << "\n\n";
  s << "cluster      size" << (has_labels ? "  purity  majority class        matched class" : "")
    << "\n";
  for (int64_t j : order) {
    char line[160];
    std::snprintf(line, sizeof(line), "%7lld  %8lld", static_cast<long long>(j),
                  static_cast<long long>(sizes[j]));
    s << line;
    if (has_labels) {
      std::snprintf(line, sizeof(line), "  %6.3f  %-20s %s", purity[j],
                    class_name(names, majority_class[j]).c_str(),
                    class_name(names, matched_class[j]).c_str());
      s << line;
    }
    s << "\n";
  }
  if (has_labels) {
    s << "\nconfusion matrix (rows: classes; columns: clusters, matched ones first)\n";
    s << std::string(20, ' ');
    for (int64_t j : order) s << format("%7.0f", static_cast<double>(j));
    s << "\n";
    for (int64_t c = 0; c < classes; ++c) {
      std::string name = class_name(names, c);
      if (name.size() > 19) name.resize(19);
      name.resize(20, ' ');
      s << name;
      for (int64_t j : order) s << format("%7.0f", static_cast<double>(count(c, j)));
      s << "\n";
    }
  }
  return s.str();
}

}  // namespace dcacn
