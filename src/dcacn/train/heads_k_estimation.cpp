#include "dcacn/train/heads_k_estimation.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "dcacn/cluster/neighbours.h"
#include "dcacn/util/error.h"

namespace dcacn {
namespace {

struct Agreement {
  double mean = 0, standard_error = 0;
};

// The mean agreement of every set of heads trained at K on `x` with `graph`, and its standard
// error over the heads (each head's mean ARI with the others of its set counted as one value).
Agreement heads_agreement_at(const torch::Tensor& x, const torch::Tensor& graph, int64_t k,
                             const HeadsKEstimationOptions& o) {
  std::vector<double> per_head;
  const ClusterHeadOptions head(x.size(1), k);
  for (int64_t draw = 0; draw < o.draws(); ++draw) {
    NeighbourHeadOptions h = o.heads();
    h.seed(o.seed() + 1000 * static_cast<uint64_t>(draw) + static_cast<uint64_t>(k));
    const NeighbourHeadResult r = train_neighbour_heads(x, graph, head, h);
    per_head.insert(per_head.end(), r.agreement.begin(), r.agreement.end());
  }
  Agreement a;
  for (double v : per_head) a.mean += v;
  a.mean /= static_cast<double>(per_head.size());
  if (per_head.size() > 1) {
    double sum = 0;
    for (double v : per_head) sum += (v - a.mean) * (v - a.mean);
    const double count = static_cast<double>(per_head.size());
    a.standard_error = std::sqrt(sum / (count - 1) / count);
  }
  return a;
}

}  // namespace

KEstimate estimate_clusters_by_heads(const torch::Tensor& features, const torch::Tensor& graph,
                                     const HeadsKEstimationOptions& o,
                                     const HeadsKProgress& progress) {
  DCACN_CHECK(features.dim() == 2, "estimating K: expected [N, D] rows, got ", features.sizes());
  DCACN_CHECK(o.min_k() >= 2 && o.max_k() >= o.min_k(),
              "estimating K: the range must be A-B with 2 <= A <= B, got ", o.min_k(), "-",
              o.max_k());
  const int64_t m = features.size(0);
  DCACN_CHECK(m > o.max_k(), "estimating K up to ", o.max_k(), " needs more than ", o.max_k(),
              " images, got ", m);
  DCACN_CHECK(graph.dim() == 2 && graph.size(0) == m && graph.size(1) >= 1 && graph.size(1) < m,
              "estimating K: expected [", m, ", k] neighbours with 1 <= k < ", m, ", got ",
              graph.sizes());
  DCACN_CHECK(o.draws() >= 1 && o.heads().heads() >= 2 && o.heads().epochs() >= 1,
              "estimating K: draws and passes must be positive and heads at least 2, got ",
              o.draws(), ", ", o.heads().epochs(), " and ", o.heads().heads());
  const auto start = std::chrono::steady_clock::now();
  torch::NoGradGuard no_grad;  // train_neighbour_heads turns gradients on where it needs them
  const torch::Tensor x = features.to(torch::kFloat32);
  // The reference: a Gaussian of the features' shape, its neighbours mined in itself as the
  // stage mines them (cosine similarity), as many per row as the graph has.
  at::Generator gen = at::detail::createCPUGenerator(o.seed() * 7919ULL + 29);
  const torch::Tensor reference = gaussian_reference(x, gen).to(x.device());
  NeighbourOptions mine;
  mine.k = graph.size(1);
  const torch::Tensor reference_graph = nearest_neighbours(reference, mine).cpu();
  const torch::Tensor data_graph = graph.to(torch::kCPU, torch::kInt64);
  KEstimate out;
  out.method = KCriterion::kHeads;
  const int64_t all = o.max_k() - o.min_k() + 1;
  for (int64_t k = o.min_k(); k <= o.max_k(); ++k) {
    const Agreement data = heads_agreement_at(x, data_graph, k, o);
    const Agreement ref = heads_agreement_at(reference, reference_graph, k, o);
    out.ks.push_back(k);
    out.stability.push_back(data.mean);
    out.reference.push_back(ref.mean);
    out.criterion.push_back(data.mean - ref.mean);
    out.spread.push_back(std::hypot(data.standard_error, ref.standard_error));
    if (progress) progress(k - o.min_k() + 1, all);
  }
  const auto best = std::max_element(out.criterion.begin(), out.criterion.end());
  out.best = out.ks[best - out.criterion.begin()];
  out.chosen = one_standard_error_choice(out.ks, out.criterion, out.spread);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

double heads_k_estimation_seconds(const HeadsKEstimationOptions& o, int64_t m, int64_t dim,
                                  int64_t k, torch::Device device) {
  if (m <= o.max_k()) return 0;
  k = std::max<int64_t>(1, std::min(k, m - 1));
  // A set of heads costs more at a larger K: its last layer, softmax, entropy and the scoring's
  // K x K tables grow with K, and with bf16 products the shared hidden layer is cheap. On
  // 10,000 rows of 128 features (2 cores, bf16) a set took 0.31 s at K = 2 and 0.64 s at 30,
  // so timing at the largest K alone overestimated K 2-30 by 1.4x
  // (bench/results/k_estimation.md). A set is timed at both ends of the range and its cost
  // taken as linear in K between them: the range's sum is the mean of the two ends per K.
  const double high =
      neighbour_heads_seconds(ClusterHeadOptions(dim, o.max_k()), o.heads(), m, k, device);
  const double low =
      o.min_k() == o.max_k()
          ? high
          : neighbour_heads_seconds(ClusterHeadOptions(dim, o.min_k()), o.heads(), m, k, device);
  const double sets = 2.0 * static_cast<double>(o.draws() * (o.max_k() - o.min_k() + 1));
  return 0.5 * (low + high) * sets;
}

}  // namespace dcacn
