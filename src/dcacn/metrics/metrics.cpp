#include "dcacn/metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "dcacn/metrics/hungarian.h"
#include "dcacn/util/error.h"

namespace dcacn {
namespace {

// Sorted distinct values of `labels` and the index of each label among them.
std::vector<int64_t> encode(const std::vector<int64_t>& labels, std::vector<int64_t>* codes) {
  std::vector<int64_t> values(labels);
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  codes->resize(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    (*codes)[i] = std::lower_bound(values.begin(), values.end(), labels[i]) - values.begin();
  }
  return values;
}

std::vector<int64_t> row_sums(const Contingency& t) {
  std::vector<int64_t> sums(t.rows(), 0);
  for (int64_t r = 0; r < t.rows(); ++r)
    for (int64_t c = 0; c < t.cols(); ++c) sums[r] += t.at(r, c);
  return sums;
}

std::vector<int64_t> col_sums(const Contingency& t) {
  std::vector<int64_t> sums(t.cols(), 0);
  for (int64_t r = 0; r < t.rows(); ++r)
    for (int64_t c = 0; c < t.cols(); ++c) sums[c] += t.at(r, c);
  return sums;
}

// Entropy (nats) of a labeling given its group sizes; 0 for a single group.
double entropy_of_sizes(const std::vector<int64_t>& sizes) {
  std::vector<double> nonzero;
  double total = 0.0;
  for (int64_t s : sizes) {
    if (s > 0) {
      nonzero.push_back(static_cast<double>(s));
      total += static_cast<double>(s);
    }
  }
  if (nonzero.size() <= 1) return 0.0;
  const double log_total = std::log(total);
  double h = 0.0;
  for (double p : nonzero) h -= (p / total) * (std::log(p) - log_total);
  return h;
}

double accuracy_from(const Contingency& t) {
  if (t.total == 0) return 0.0;
  const std::vector<int64_t> match = match_clusters_to_classes(t);
  int64_t correct = 0;
  for (int64_t c = 0; c < t.cols(); ++c) {
    if (match[c] >= 0) correct += t.at(match[c], c);
  }
  return static_cast<double>(correct) / static_cast<double>(t.total);
}

double nmi_from(const Contingency& t) {
  if ((t.rows() == 1 && t.cols() == 1) || (t.rows() == 0 && t.cols() == 0)) return 1.0;
  if (t.rows() == 1 || t.cols() == 1) return 0.0;  // no information either way
  const std::vector<int64_t> pi = row_sums(t), pj = col_sums(t);
  const double n = static_cast<double>(t.total);
  const double log_n = std::log(n);
  const double eps = std::numeric_limits<double>::epsilon();
  double mi = 0.0;
  for (int64_t r = 0; r < t.rows(); ++r) {
    for (int64_t c = 0; c < t.cols(); ++c) {
      const int64_t nij = t.at(r, c);
      if (nij == 0) continue;
      const double p = static_cast<double>(nij) / n;
      const double outer = static_cast<double>(pi[r] * pj[c]);
      const double term =
          p * (std::log(static_cast<double>(nij)) - log_n) + p * (-std::log(outer) + log_n + log_n);
      if (std::abs(term) >= eps) mi += term;
    }
  }
  mi = std::max(mi, 0.0);
  if (mi == 0.0) return 0.0;
  const double normalizer = 0.5 * (entropy_of_sizes(pi) + entropy_of_sizes(pj));
  return mi / normalizer;
}

double ari_from(const Contingency& t) {
  using i128 = __int128;
  const std::vector<int64_t> n_c = row_sums(t), n_k = col_sums(t);
  const i128 n = t.total;
  i128 sum_squares = 0, row_weighted = 0, col_weighted = 0;
  for (int64_t r = 0; r < t.rows(); ++r) {
    for (int64_t c = 0; c < t.cols(); ++c) {
      const i128 nij = t.at(r, c);
      sum_squares += nij * nij;
      col_weighted += nij * n_k[c];
      row_weighted += nij * n_c[r];
    }
  }
  // Pair confusion matrix: pairs together in both / only in the prediction / only in truth.
  const i128 tp = sum_squares - n;
  const i128 fp = col_weighted - sum_squares;
  const i128 fn = row_weighted - sum_squares;
  const i128 tn = n * n - fp - fn - sum_squares;
  if (fn == 0 && fp == 0) return 1.0;
  const i128 numerator = tp * tn - fn * fp;
  const i128 denominator = (tp + fn) * (fn + tn) + (tp + fp) * (fp + tn);
  return 2.0 * static_cast<double>(numerator) / static_cast<double>(denominator);
}

std::vector<int64_t> to_vector(const torch::Tensor& labels, const char* what) {
  TORCH_CHECK(labels.dim() == 1, what, " must be a 1-d tensor, got shape ", labels.sizes());
  TORCH_CHECK(!labels.is_floating_point() && !labels.is_complex(), what,
              " must hold integers, got ", labels.scalar_type());
  torch::Tensor cpu = labels.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t* p = cpu.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + cpu.numel());
}

}  // namespace

Contingency contingency_table(const std::vector<int64_t>& labels_true,
                              const std::vector<int64_t>& labels_pred) {
  DCACN_CHECK(labels_true.size() == labels_pred.size(),
              "label vectors differ in length: ", labels_true.size(), " true labels vs ",
              labels_pred.size(), " predictions");
  Contingency t;
  std::vector<int64_t> rows, cols;
  t.classes = encode(labels_true, &rows);
  t.clusters = encode(labels_pred, &cols);
  t.counts.assign(t.classes.size() * t.clusters.size(), 0);
  for (size_t i = 0; i < rows.size(); ++i) ++t.counts[rows[i] * t.cols() + cols[i]];
  t.total = static_cast<int64_t>(labels_true.size());
  return t;
}

std::vector<int64_t> match_clusters_to_classes(const Contingency& t) {
  std::vector<double> weight(t.counts.size());
  // Columns as rows: the assignment returns, per cluster, its class.
  for (int64_t r = 0; r < t.rows(); ++r)
    for (int64_t c = 0; c < t.cols(); ++c) weight[c * t.rows() + r] = t.at(r, c);
  return solve_assignment_max(weight, t.cols(), t.rows());
}

double clustering_accuracy(const std::vector<int64_t>& labels_true,
                           const std::vector<int64_t>& labels_pred) {
  return accuracy_from(contingency_table(labels_true, labels_pred));
}

double normalized_mutual_info(const std::vector<int64_t>& labels_true,
                              const std::vector<int64_t>& labels_pred) {
  return nmi_from(contingency_table(labels_true, labels_pred));
}

double adjusted_rand_index(const std::vector<int64_t>& labels_true,
                           const std::vector<int64_t>& labels_pred) {
  return ari_from(contingency_table(labels_true, labels_pred));
}

ClusteringScores score_clustering(const std::vector<int64_t>& labels_true,
                                  const std::vector<int64_t>& labels_pred) {
  const Contingency t = contingency_table(labels_true, labels_pred);
  ClusteringScores s;
  s.acc = accuracy_from(t);
  s.nmi = nmi_from(t);
  s.ari = ari_from(t);
  s.samples = t.total;
  s.classes = t.rows();
  s.clusters = t.cols();
  return s;
}

ClusteringScores score_clustering(const torch::Tensor& labels_true,
                                  const torch::Tensor& labels_pred) {
  return score_clustering(to_vector(labels_true, "true labels"),
                          to_vector(labels_pred, "predicted clusters"));
}

std::string format_scores(const ClusteringScores& s) {
  char buffer[128];
  std::snprintf(buffer, sizeof(buffer), "ACC %.4f  NMI %.4f  ARI %.4f", s.acc, s.nmi, s.ari);
  return buffer;
}

}  // namespace dcacn
