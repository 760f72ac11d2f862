#include "dcacn/train/losses.h"

#include <torch/nn/functional/normalization.h>

#include <cmath>
#include <limits>

#include "dcacn/util/error.h"

namespace dcacn {

ContrastKind parse_contrast(const std::string& text) {
  if (text == "decoupled") return ContrastKind::kDecoupled;
  if (text == "infonce") return ContrastKind::kInfoNCE;
  throw InputError("unknown contrast '" + text + "': expected decoupled or infonce");
}

std::string contrast_name(ContrastKind kind) {
  return kind == ContrastKind::kDecoupled ? "decoupled" : "infonce";
}

ClusterReading parse_cluster_reading(const std::string& text) {
  if (text == "rows") return ClusterReading::kRows;
  if (text == "columns") return ClusterReading::kColumns;
  throw InputError("unknown cluster loss reading '" + text + "': expected rows or columns");
}

std::string cluster_reading_name(ClusterReading reading) {
  return reading == ClusterReading::kRows ? "rows" : "columns";
}

torch::Tensor contrastive_loss(const torch::Tensor& a, const torch::Tensor& b, double temperature,
                               ContrastKind kind, const torch::Tensor& exclude) {
  TORCH_CHECK(a.dim() == 2 && a.sizes() == b.sizes() && a.size(0) >= 2,
              "contrastive_loss: expected two [M, D] views with M >= 2, got ", a.sizes(), " and ",
              b.sizes());
  TORCH_CHECK(temperature > 0, "contrastive_loss: temperature must be positive, got ", temperature);
  namespace F = torch::nn::functional;
  const int64_t m = a.size(0);
  // Computed in float32 even under bf16 autocast (float64 stays float64, for gradient checks).
  const auto dtype = a.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  const torch::Tensor z =
      F::normalize(torch::cat({a, b}, 0).to(dtype), F::NormalizeFuncOptions().dim(1));
  const torch::Tensor sim = torch::mm(z, z.t()) / temperature;  // [2M, 2M]
  const torch::Tensor rows =
      torch::arange(2 * m, torch::TensorOptions().dtype(torch::kInt64).device(a.device()));
  const torch::Tensor positive = (rows + m) % (2 * m);
  const torch::Tensor pos_sim = sim.gather(1, positive.unsqueeze(1)).squeeze(1);
  // Denominator: every other row except the anchor itself, and for the decoupled loss
  // except the positive too.
  torch::Tensor excluded = torch::eye(2 * m, sim.options().dtype(torch::kBool));
  if (kind == ContrastKind::kDecoupled) {
    excluded = excluded.scatter(1, positive.unsqueeze(1), true);
  }
  if (exclude.defined()) {
    TORCH_CHECK(exclude.dim() == 2 && exclude.size(0) == m && exclude.size(1) == m,
                "contrastive_loss: the excluded pairs must be [", m, ", ", m, "], got ",
                exclude.sizes());
    excluded = excluded | exclude.to(excluded.device(), torch::kBool).repeat({2, 2});
  }
  torch::Tensor masked = sim.masked_fill(excluded, -std::numeric_limits<float>::infinity());
  if (!exclude.defined()) return (torch::logsumexp(masked, 1) - pos_sim).mean();
  // A row whose negatives are all excluded (its whole batch shares its pseudo-label) has no
  // contrast to learn from: it counts as 0 and the mean is over the other rows. Its entries are
  // made finite first, so that no NaN flows back through logsumexp.
  const torch::Tensor has_negative = excluded.logical_not().any(1);
  masked = masked.masked_fill(has_negative.logical_not().unsqueeze(1), 0.0);
  const torch::Tensor per_row =
      torch::where(has_negative, torch::logsumexp(masked, 1) - pos_sim, torch::zeros_like(pos_sim));
  return per_row.sum() / has_negative.sum().clamp_min(1).to(per_row.scalar_type());
}

torch::Tensor entropy_regularizer(const torch::Tensor& probabilities) {
  const auto dtype =
      probabilities.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  const torch::Tensor q = probabilities.to(dtype).mean(0);
  const double log_k = std::log(static_cast<double>(probabilities.size(1)));
  // q log q with 0 log 0 = 0.
  const torch::Tensor plogp =
      torch::where(q > 0, q * torch::log(q.clamp_min(1e-30)), torch::zeros_like(q));
  return log_k + plogp.sum();
}

LossTerms pair_loss(const torch::Tensor& h_u, const torch::Tensor& p_u, const torch::Tensor& h_v,
                    const torch::Tensor& p_v, const LossOptions& o) {
  const torch::Tensor inst = contrastive_loss(h_u, h_v, o.instance_temperature, o.instance);
  const bool columns = o.reading == ClusterReading::kColumns;
  const torch::Tensor clus = contrastive_loss(columns ? p_u.t() : p_u, columns ? p_v.t() : p_v,
                                              o.cluster_temperature, o.cluster);
  const torch::Tensor ent = entropy_regularizer(p_u) + entropy_regularizer(p_v);
  LossTerms out;
  out.total = inst + o.cluster_weight * clus + o.entropy_weight * ent;
  out.instance = inst.detach();
  out.cluster = clus.detach();
  out.entropy = ent.detach();
  return out;
}

std::vector<std::pair<int64_t, int64_t>> multicrop_pairs(int64_t views, int64_t num_global) {
  TORCH_CHECK(num_global >= 1 && num_global <= views && views >= 2, "multicrop: ", views,
              " views with ", num_global, " global ones form no pairs");
  std::vector<std::pair<int64_t, int64_t>> pairs;
  for (int64_t g = 0; g < num_global; ++g) {
    for (int64_t h = g + 1; h < num_global; ++h) pairs.emplace_back(g, h);
    for (int64_t l = num_global; l < views; ++l) pairs.emplace_back(g, l);
  }
  TORCH_CHECK(!pairs.empty(), "multicrop: a single global view and no local views form no pair");
  return pairs;
}

LossTerms multicrop_loss(const std::vector<torch::Tensor>& embeddings,
                         const std::vector<torch::Tensor>& probabilities, int64_t num_global,
                         const LossOptions& options) {
  const int64_t views = static_cast<int64_t>(embeddings.size());
  TORCH_CHECK(views == static_cast<int64_t>(probabilities.size()), "multicrop_loss: ", views,
              " embeddings, ", probabilities.size(), " probability sets");
  const auto pairs = multicrop_pairs(views, num_global);
  LossTerms sum;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const auto [u, v] = pairs[i];
    LossTerms t =
        pair_loss(embeddings[u], probabilities[u], embeddings[v], probabilities[v], options);
    if (i == 0) {
      sum = t;
    } else {
      sum.total = sum.total + t.total;
      sum.instance = sum.instance + t.instance;
      sum.cluster = sum.cluster + t.cluster;
      sum.entropy = sum.entropy + t.entropy;
    }
  }
  const double n = static_cast<double>(pairs.size());
  sum.total = sum.total / n;
  sum.instance = sum.instance / n;
  sum.cluster = sum.cluster / n;
  sum.entropy = sum.entropy / n;
  return sum;
}

}  // namespace dcacn
