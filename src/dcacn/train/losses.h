#pragma once
// DCACN's contrastive losses (docs/design.md section 4; paper eqs. 5-8).
//
// Instance level: two views a, b ([N, D], rows L2-normalised) of a batch. For the anchor a_i
// the positive is b_i and the negatives are the other 2N - 2 rows of both views:
//   decoupled (eq. 6): -s(a_i, b_i)/t + log sum_{k != i} [e^{s(a_i, a_k)/t} + e^{s(a_i, b_k)/t}]
//   infonce   (eq. 5): the same with e^{s(a_i, b_i)/t} added inside the sum (NT-Xent, CC's).
// Averaged over all 2N anchors (a against b and b against a).
//
// Cluster level, on cluster probabilities p_u, p_v ([N, K] rows summing to 1):
//   rows    (eq. 7 as written): the same contrast over the N per-sample probability vectors,
//           cosine similarity, temperature t_c;
//   columns (CC's form): the contrast over the K cluster-assignment columns (length N).
// plus the entropy regulariser log K - H(mean_i p_i) per view, weighted on its own.

#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

namespace dcacn {

enum class ContrastKind { kDecoupled, kInfoNCE };
enum class ClusterReading { kRows, kColumns };

ContrastKind parse_contrast(const std::string& text);  ///< "decoupled" | "infonce"
std::string contrast_name(ContrastKind kind);
ClusterReading parse_cluster_reading(const std::string& text);  ///< "rows" | "columns"
std::string cluster_reading_name(ClusterReading reading);

/// Contrast between two views of the same items: a, b [M, D], any scale (rows are
/// L2-normalised here, so the similarity is the cosine). Returns the mean over 2M anchors.
/// `exclude` ([M, M] bool, may be undefined): item pairs (i, j) that are no negatives of each
/// other, in either view (the self-labelling stage's same-pseudo-label pairs); a row left with no
/// negative counts as 0 and the mean is then over the rows that have one.
torch::Tensor contrastive_loss(const torch::Tensor& a, const torch::Tensor& b, double temperature,
                               ContrastKind kind, const torch::Tensor& exclude = torch::Tensor());

/// log K - H(mean over rows of p), in nats; 0 when the mean assignment is uniform.
torch::Tensor entropy_regularizer(const torch::Tensor& probabilities);

struct LossOptions {
  ContrastKind instance = ContrastKind::kDecoupled;
  double instance_temperature = 0.5;
  ContrastKind cluster = ContrastKind::kDecoupled;
  ClusterReading reading = ClusterReading::kColumns;
  double cluster_temperature = 1.0;
  /// lambda in L = L_inst + lambda L_clus.
  double cluster_weight = 1.0;
  /// Weight of (log K - H(q_u)) + (log K - H(q_v)).
  double entropy_weight = 1.0;
};

struct LossTerms {
  torch::Tensor total;     ///< scalar, differentiable
  torch::Tensor instance;  ///< scalar, detached
  torch::Tensor cluster;   ///< scalar, detached (contrast only)
  torch::Tensor entropy;   ///< scalar, detached (regulariser, before weighting)
};

/// The loss of one pair of views: embeddings [N, E] and probabilities [N, K] of each.
LossTerms pair_loss(const torch::Tensor& h_u, const torch::Tensor& p_u, const torch::Tensor& h_v,
                    const torch::Tensor& p_v, const LossOptions& options);

/// The view pairs multi-crop contrasts: (g, h) for globals g < h, then (g, l) for every global g
/// and local l. Views are ordered globals first.
std::vector<std::pair<int64_t, int64_t>> multicrop_pairs(int64_t views, int64_t num_global);

/// Multi-crop pairing: global-global pairs and every global-local pair (local views are not
/// contrasted with each other, as in SwAV), averaged. Views are ordered globals first.
LossTerms multicrop_loss(const std::vector<torch::Tensor>& embeddings,
                         const std::vector<torch::Tensor>& probabilities, int64_t num_global,
                         const LossOptions& options);

}  // namespace dcacn
