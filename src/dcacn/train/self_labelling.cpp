#include "dcacn/train/self_labelling.h"

#include <algorithm>
#include <cmath>

#include "dcacn/metrics/hungarian.h"
#include "dcacn/util/error.h"
#include "dcacn/util/progress.h"

namespace dcacn {

torch::Tensor select_pseudo_labels(const torch::Tensor& probabilities, double threshold,
                                   double quota) {
  TORCH_CHECK(probabilities.dim() == 2, "select_pseudo_labels: expected [B, K], got ",
              probabilities.sizes());
  TORCH_CHECK(quota > 0 && quota <= 1 && threshold >= 0 && threshold <= 1,
              "select_pseudo_labels: threshold must be in 0..1 and quota in (0, 1], got ",
              threshold, " and ", quota);
  const int64_t b = probabilities.size(0), k = probabilities.size(1);
  const int64_t per_cluster = static_cast<int64_t>(std::ceil(quota * b / k));
  const torch::Tensor p = probabilities.detach().to(torch::kFloat32);
  const auto [confidence, cluster] = p.max(1);
  // Rank each confident image among those of its cluster: sorted by (cluster, -confidence), the
  // confident images come first, cluster by cluster, and the others after them.
  const torch::Tensor eligible = confidence >= threshold;
  const torch::Tensor key =
      torch::where(eligible, cluster.to(torch::kFloat64) * 4.0 - confidence.to(torch::kFloat64),
                   torch::full({b}, 4.0 * k + 4.0, torch::kFloat64));
  const torch::Tensor order = std::get<1>(key.sort(/*stable=*/true, 0, false));
  const torch::Tensor sorted_cluster = cluster.index_select(0, order);
  const torch::Tensor sorted_eligible = eligible.index_select(0, order);
  const torch::Tensor counts = torch::bincount(cluster.masked_select(eligible), {}, k);
  const torch::Tensor starts = counts.cumsum(0) - counts;
  const torch::Tensor rank =
      torch::arange(b, order.options()) - starts.index_select(0, sorted_cluster);
  const torch::Tensor keep = sorted_eligible & (rank < per_cluster);
  torch::Tensor labels = torch::full({b}, -1, torch::kInt64);
  labels.index_put_({order.masked_select(keep)}, sorted_cluster.masked_select(keep));
  return labels.to(probabilities.device());
}

torch::Tensor balanced_cross_entropy(const torch::Tensor& probabilities,
                                     const torch::Tensor& labels) {
  TORCH_CHECK(
      probabilities.dim() == 2 && labels.dim() == 1 && labels.size(0) == probabilities.size(0),
      "balanced_cross_entropy: expected [M, K] and [M], got ", probabilities.sizes(), " and ",
      labels.sizes());
  const torch::Tensor chosen = (labels >= 0).nonzero().view(-1);
  if (chosen.numel() == 0) return probabilities.sum() * 0.0;
  const auto dtype =
      probabilities.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  const torch::Tensor y = labels.index_select(0, chosen);
  const torch::Tensor p = probabilities.index_select(0, chosen).to(dtype);
  const torch::Tensor nll = -torch::log(p.gather(1, y.unsqueeze(1)).squeeze(1).clamp_min(1e-12));
  // Each image weighs 1 / (its class's count): every class present counts the same.
  const int64_t k = probabilities.size(1);
  const torch::Tensor count = torch::bincount(y, {}, k).to(dtype);
  const torch::Tensor weight = 1.0 / count.index_select(0, y);
  const torch::Tensor classes = (count > 0).sum().to(dtype);
  return (weight * nll).sum() / classes;
}

torch::Tensor same_label_pairs(const torch::Tensor& labels) {
  const torch::Tensor l = labels.view({-1});
  const torch::Tensor labelled = (l >= 0);
  torch::Tensor same =
      (l.unsqueeze(0) == l.unsqueeze(1)) & labelled.unsqueeze(0) & labelled.unsqueeze(1);
  return same.fill_diagonal_(false);
}

LossTerms self_label_loss(const std::vector<torch::Tensor>& h, const std::vector<torch::Tensor>& p,
                          int64_t num_global, const torch::Tensor& labels,
                          const LossOptions& losses, const SelfLabelOptions& o) {
  const int64_t views = static_cast<int64_t>(h.size());
  TORCH_CHECK(views == static_cast<int64_t>(p.size()), "self_label_loss: ", views, " embeddings, ",
              p.size(), " probability sets");
  const torch::Tensor exclude = same_label_pairs(labels);
  torch::Tensor inst;
  const auto pairs = multicrop_pairs(views, num_global);
  for (const auto& [u, v] : pairs) {
    const torch::Tensor t =
        contrastive_loss(h[u], h[v], losses.instance_temperature, losses.instance, exclude);
    inst = inst.defined() ? inst + t : t;
  }
  inst = inst / static_cast<double>(pairs.size());
  // The cross-entropy on the global views only: they show the whole image (strongly
  // augmented), as the strong views of TCL and SCAN do; a small local crop may not show what
  // tells the classes apart.
  torch::Tensor ce;
  for (int64_t g = 0; g < num_global; ++g) {
    const torch::Tensor t = balanced_cross_entropy(p[g], labels);
    ce = ce.defined() ? ce + t : t;
  }
  ce = ce / static_cast<double>(num_global);
  // The entropy term: a cluster that no image is assigned to gets no pseudo-labels, and
  // nothing else would bring it back.
  torch::Tensor ent;
  for (int64_t g = 0; g < num_global; ++g) {
    const torch::Tensor t = entropy_regularizer(p[g]);
    ent = ent.defined() ? ent + t : t;
  }
  ent = ent / static_cast<double>(num_global);
  LossTerms out;
  out.total = o.instance_weight() * inst + o.ce_weight() * ce + o.entropy_weight() * ent;
  out.instance = inst.detach();
  out.cluster = ce.detach();
  out.entropy = ent.detach();
  return out;
}

PseudoLabelStats::PseudoLabelStats(int64_t clusters, int64_t classes)
    : clusters_(clusters), classes_(classes) {
  reset();
}

void PseudoLabelStats::reset() {
  seen_ = 0;
  per_cluster_.assign(clusters_, 0);
  confusion_.assign(clusters_ * classes_, 0);
}

void PseudoLabelStats::add(const torch::Tensor& pseudo, const torch::Tensor& truth) {
  const torch::Tensor y = pseudo.to(torch::kCPU, torch::kInt64).view(-1);
  seen_ += y.numel();
  const torch::Tensor labelled = y >= 0;
  auto accumulate = [](std::vector<int64_t>& into, const torch::Tensor& counts) {
    const torch::Tensor c = counts.contiguous();
    for (size_t i = 0; i < into.size(); ++i) into[i] += c.data_ptr<int64_t>()[i];
  };
  accumulate(per_cluster_, torch::bincount(y.masked_select(labelled), {}, clusters_));
  if (classes_ == 0 || !truth.defined()) return;
  const torch::Tensor t = truth.to(torch::kCPU, torch::kInt64).view(-1);
  const torch::Tensor known = labelled & (t >= 0) & (t < classes_);
  const torch::Tensor cell = y.masked_select(known) * classes_ + t.masked_select(known);
  accumulate(confusion_, torch::bincount(cell, {}, clusters_ * classes_));
}

double PseudoLabelStats::labelled_fraction() const {
  int64_t labelled = 0;
  for (int64_t c : per_cluster_) labelled += c;
  return seen_ > 0 ? static_cast<double>(labelled) / seen_ : 0.0;
}

double PseudoLabelStats::balance() const {
  const auto [lo, hi] = std::minmax_element(per_cluster_.begin(), per_cluster_.end());
  return *hi > 0 ? static_cast<double>(*lo) / *hi : 0.0;
}

double PseudoLabelStats::accuracy() const {
  int64_t labelled = 0;
  for (int64_t c : confusion_) labelled += c;
  if (classes_ == 0 || labelled == 0) return -1;
  const std::vector<double> weight(confusion_.begin(), confusion_.end());
  const std::vector<int64_t> match = solve_assignment_max(weight, clusters_, classes_);
  int64_t right = 0;
  for (int64_t k = 0; k < clusters_; ++k) {
    if (match[k] >= 0) right += confusion_[k * classes_ + match[k]];
  }
  return static_cast<double>(right) / labelled;
}

std::string PseudoLabelStats::summary() const {
  std::string s = c10::str("labelled ", fixed(100 * labelled_fraction(), 1), "%, balance ",
                           fixed(balance(), 2));
  const double acc = accuracy();
  if (acc >= 0) s += ", pseudo-label ACC " + fixed(acc, 3);
  return s;
}

torch::Tensor PseudoLabelStats::to_tensor() const {
  torch::Tensor out = torch::zeros({clusters_ + 1, classes_ + 1}, torch::kInt64);
  auto a = out.accessor<int64_t, 2>();
  for (int64_t k = 0; k < clusters_; ++k) {
    for (int64_t c = 0; c < classes_; ++c) a[k][c] = confusion_[k * classes_ + c];
    a[k][classes_] = per_cluster_[k];
  }
  a[clusters_][0] = seen_;
  return out;
}

void PseudoLabelStats::load(const torch::Tensor& counts, const std::string& source) {
  DCACN_CHECK(counts.dim() == 2 && counts.size(0) == clusters_ + 1 &&
                  counts.size(1) == classes_ + 1 && counts.scalar_type() == torch::kInt64,
              source, ": pseudo-label counts are ", counts.sizes(), " ", counts.scalar_type(),
              ", expected int64 [", clusters_ + 1, ", ", classes_ + 1, "]");
  const torch::Tensor c = counts.contiguous();
  auto a = c.accessor<int64_t, 2>();
  for (int64_t k = 0; k < clusters_; ++k) {
    for (int64_t j = 0; j < classes_; ++j) confusion_[k * classes_ + j] = a[k][j];
    per_cluster_[k] = a[k][classes_];
  }
  seen_ = a[clusters_][0];
}

}  // namespace dcacn
