#include "dcacn/cluster/neighbours.h"

#include <c10/util/Exception.h>
#include <torch/nn/functional/normalization.h>

#include <algorithm>

namespace dcacn {

torch::Tensor nearest_neighbours(const torch::Tensor& x, const NeighbourOptions& options,
                                 const NeighbourProgress& progress) {
  TORCH_CHECK(x.dim() == 2, "nearest_neighbours: expected an [N, D] matrix, got ", x.sizes());
  const int64_t n = x.size(0), k = options.k;
  TORCH_CHECK(k >= 1 && k < n, "nearest_neighbours: k must be in [1, N), got k = ", k,
              " for N = ", n);
  TORCH_CHECK(options.chunk >= 1, "nearest_neighbours: chunk must be positive");
  torch::NoGradGuard no_grad;
  torch::Tensor rows = x.to(torch::kFloat32);
  if (options.centre) rows = rows - rows.mean(0, /*keepdim=*/true);
  namespace F = torch::nn::functional;
  rows = F::normalize(rows, F::NormalizeFuncOptions().dim(1).eps(1e-12)).contiguous();
  const torch::Tensor all_t = rows.t().contiguous();
  std::vector<torch::Tensor> parts;
  for (int64_t start = 0; start < n; start += options.chunk) {
    const int64_t end = std::min(n, start + options.chunk);
    torch::Tensor sim = torch::mm(rows.slice(0, start, end), all_t);
    // A row is never its own neighbour: below every real similarity (>= -1).
    const torch::Tensor self = torch::arange(start, end, sim.options().dtype(torch::kInt64));
    sim.scatter_(1, self.unsqueeze(1), -3.0);
    parts.push_back(std::get<1>(sim.topk(k, /*dim=*/1, /*largest=*/true, /*sorted=*/true)));
    if (progress) progress(end, n);
  }
  return torch::cat(parts, 0);
}

torch::Tensor principal_components(const torch::Tensor& x, int64_t dims) {
  TORCH_CHECK(x.dim() == 2 && x.size(0) >= 1,
              "principal_components: expected an [N, D] matrix, got ", x.sizes());
  TORCH_CHECK(dims >= 1, "principal_components: dims must be positive, got ", dims);
  torch::NoGradGuard no_grad;
  const torch::Tensor rows = x.to(torch::kFloat32);
  const torch::Tensor centred = rows - rows.mean(0, /*keepdim=*/true);
  if (x.size(1) <= dims) return centred;
  // D x D covariance (up to 1/N) in float32 products, decomposed in float64; eigh returns the
  // eigenvalues in ascending order, so the leading components are the last columns.
  const torch::Tensor covariance = torch::mm(centred.t(), centred).to(torch::kFloat64);
  const torch::Tensor vectors = std::get<1>(torch::linalg_eigh(covariance));
  const torch::Tensor leading =
      vectors.slice(1, x.size(1) - dims).flip({1}).to(torch::kFloat32).contiguous();
  return torch::mm(centred, leading);
}

}  // namespace dcacn
