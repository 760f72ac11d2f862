#include "dcacn/cluster/neighbours.h"

#include <c10/util/Exception.h>
#include <torch/nn/functional/normalization.h>

#include <algorithm>
#include <chrono>

namespace dcacn {

namespace {

using Products = NeighbourOptions::Products;

// The k nearest of rows [start, end) among all rows: unit rows [N, D] and their transpose.
torch::Tensor float32_chunk(const torch::Tensor& rows, const torch::Tensor& all_t, int64_t start,
                            int64_t end, int64_t k) {
  torch::Tensor sim = torch::mm(rows.slice(0, start, end), all_t);
  // A row is never its own neighbour: below every real similarity (>= -1).
  const torch::Tensor self = torch::arange(start, end, sim.options().dtype(torch::kInt64));
  sim.scatter_(1, self.unsqueeze(1), -3.0);
  return std::get<1>(sim.topk(k, /*dim=*/1, /*largest=*/true, /*sorted=*/true));
}

// The same from a bfloat16 shortlist (`low`, `low_t`: the rows in bfloat16) of m candidates,
// ranked by their float32 similarities.
torch::Tensor shortlist_chunk(const torch::Tensor& rows, const torch::Tensor& low,
                              const torch::Tensor& low_t, int64_t start, int64_t end, int64_t k,
                              int64_t m) {
  torch::Tensor sim = torch::mm(low.slice(0, start, end), low_t);
  const torch::Tensor self = torch::arange(start, end, sim.options().dtype(torch::kInt64));
  sim.scatter_(1, self.unsqueeze(1), -3.0);
  const torch::Tensor candidates = std::get<1>(sim.topk(m, 1, /*largest=*/true, /*sorted=*/false));
  const torch::Tensor exact =
      torch::bmm(rows.index_select(0, candidates.reshape(-1)).view({end - start, m, -1}),
                 rows.slice(0, start, end).unsqueeze(2))
          .squeeze(2);
  return candidates.gather(1, std::get<1>(exact.topk(k, 1, /*largest=*/true, /*sorted=*/true)));
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

torch::Tensor nearest_neighbours(const torch::Tensor& x, const NeighbourOptions& options,
                                 const NeighbourProgress& progress, NeighbourSearch* search) {
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
  const int64_t m = std::min(n - 1, 2 * k + 8);
  torch::Tensor low, low_t;
  if (options.products != Products::kFloat32) {
    low = rows.to(torch::kBFloat16);
    low_t = all_t.to(torch::kBFloat16);
  }
  // kFastest: chunk 0 in float32, chunk 1 shortlisted, each timed; then the faster.
  Products use =
      options.products == Products::kShortlist ? Products::kShortlist : Products::kFloat32;
  NeighbourSearch record;
  std::vector<torch::Tensor> parts;
  int64_t chunk_index = 0;
  for (int64_t start = 0; start < n; start += options.chunk, ++chunk_index) {
    const int64_t end = std::min(n, start + options.chunk);
    const bool timing =
        options.products == Products::kFastest && chunk_index < 2 && end - start == options.chunk;
    if (timing) use = chunk_index == 0 ? Products::kFloat32 : Products::kShortlist;
    const auto t = std::chrono::steady_clock::now();
    parts.push_back(use == Products::kShortlist
                        ? shortlist_chunk(rows, low, low_t, start, end, k, m)
                        : float32_chunk(rows, all_t, start, end, k));
    if (timing) {
      if (rows.is_cuda()) parts.back().sum().item<int64_t>();  // wait for the device
      (chunk_index == 0 ? record.float32_seconds : record.shortlist_seconds) = seconds_since(t);
      if (chunk_index == 1) {
        use = record.shortlist_seconds < record.float32_seconds ? Products::kShortlist
                                                                : Products::kFloat32;
      }
    }
    if (progress) progress(end, n);
  }
  record.used = use;
  if (search != nullptr) *search = record;
  return torch::cat(parts, 0);
}

namespace {

// The centred rows of x and the eigen-decomposition of their D x D covariance (up to 1/N):
// products in float32, decomposed in float64, eigenvalues in descending order.
struct Decomposition {
  torch::Tensor centred, values, vectors;
};

Decomposition decompose(const torch::Tensor& x) {
  const torch::Tensor rows = x.to(torch::kFloat32);
  Decomposition d;
  d.centred = rows - rows.mean(0, /*keepdim=*/true);
  auto [values, vectors] =
      torch::linalg_eigh(torch::mm(d.centred.t(), d.centred).to(torch::kFloat64));
  // eigh returns the eigenvalues in ascending order.
  d.values = values.flip({0});
  d.vectors = vectors.flip({1});
  return d;
}

}  // namespace

torch::Tensor principal_components(const torch::Tensor& x, int64_t dims) {
  TORCH_CHECK(x.dim() == 2 && x.size(0) >= 1,
              "principal_components: expected an [N, D] matrix, got ", x.sizes());
  TORCH_CHECK(dims >= 1, "principal_components: dims must be positive, got ", dims);
  torch::NoGradGuard no_grad;
  if (x.size(1) <= dims) {
    const torch::Tensor rows = x.to(torch::kFloat32);
    return rows - rows.mean(0, /*keepdim=*/true);
  }
  const Decomposition d = decompose(x);
  const torch::Tensor leading = d.vectors.slice(1, 0, dims).to(torch::kFloat32).contiguous();
  return torch::mm(d.centred, leading);
}

torch::Tensor whitened_components(const torch::Tensor& x, int64_t dims) {
  TORCH_CHECK(x.dim() == 2 && x.size(0) >= 1,
              "whitened_components: expected an [N, D] matrix, got ", x.sizes());
  TORCH_CHECK(dims >= 1, "whitened_components: dims must be positive, got ", dims);
  torch::NoGradGuard no_grad;
  const Decomposition d = decompose(x);
  const double largest = d.values[0].item<double>();
  if (!(largest > 0)) return d.centred;  // constant rows: nothing to scale
  const int64_t kept = std::min<int64_t>(dims, d.values.gt(1e-6 * largest).sum().item<int64_t>());
  const torch::Tensor scale = d.values.slice(0, 0, kept).div(x.size(0)).sqrt().reciprocal();
  const torch::Tensor leading = (d.vectors.slice(1, 0, kept) * scale).to(torch::kFloat32);
  return torch::mm(d.centred, leading.contiguous());
}

}  // namespace dcacn
