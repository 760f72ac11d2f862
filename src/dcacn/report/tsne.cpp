#include "dcacn/report/tsne.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>

#include "dcacn/util/error.h"

namespace dcacn {
namespace {

torch::Tensor squared_distances(const torch::Tensor& x) {
  const torch::Tensor sq = x.pow(2).sum(1);
  return (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * x.mm(x.t())).clamp_min(0);
}

torch::Tensor pca(const torch::Tensor& x, int64_t dims) {
  if (dims <= 0 || x.size(1) <= dims) return x;
  const torch::Tensor centred = x - x.mean(0, true);
  const torch::Tensor cov = centred.t().mm(centred);
  const auto eig = torch::linalg_eigh(cov);  // ascending eigenvalues
  const torch::Tensor vectors = std::get<1>(eig).slice(1, x.size(1) - dims).flip(1);
  return centred.mm(vectors);
}

}  // namespace

torch::Tensor tsne_joint_probabilities(const torch::Tensor& d2_in, double perplexity) {
  const torch::Tensor d2 = d2_in.to(torch::kDouble);
  const int64_t n = d2.size(0);
  DCACN_CHECK(perplexity > 0 && perplexity < n, "the t-SNE perplexity must lie in (0, ", n,
              ") for ", n, " points, got ", perplexity);
  const double target = std::log(perplexity);
  const torch::Tensor off_diagonal = 1 - torch::eye(n, torch::kDouble);
  // Bisection on beta = 1 / (2 sigma^2) for all rows at once; distances are shifted by each
  // row's smallest off-diagonal value so that exp() cannot underflow to an all-zero row.
  const torch::Tensor shifted = d2 - (d2 + torch::eye(n, torch::kDouble) * 1e300).amin(1, true);
  torch::Tensor beta = torch::ones({n, 1}, torch::kDouble);
  torch::Tensor lo = torch::zeros({n, 1}, torch::kDouble);
  torch::Tensor hi = torch::full({n, 1}, INFINITY, torch::kDouble);
  torch::Tensor p;
  for (int iteration = 0; iteration < 100; ++iteration) {
    p = torch::exp(-shifted * beta) * off_diagonal;
    const torch::Tensor sum = p.sum(1, true);
    const torch::Tensor entropy = torch::log(sum) + beta * (shifted * p).sum(1, true) / sum;
    const torch::Tensor too_flat = entropy > target;  // too much entropy: raise beta
    lo = torch::where(too_flat, beta, lo);
    hi = torch::where(too_flat, hi, beta);
    beta = torch::where(torch::isinf(hi), beta * 2, (lo + hi) / 2);
    if ((entropy - target).abs().max().item<double>() < 1e-5) break;
  }
  p = p / p.sum(1, true);
  return ((p + p.t()) / (2.0 * n)).clamp_min(1e-12);
}

TSNEResult tsne(const torch::Tensor& x_in, const TSNEOptions& o,
                const std::function<void(int64_t, double)>& progress) {
  DCACN_CHECK(x_in.dim() == 2 && x_in.size(0) >= 2,
              "t-SNE needs an [n, D] matrix with n >= 2, got ", x_in.sizes());
  const int64_t n = x_in.size(0);
  const torch::Tensor x = pca(x_in.to(torch::kCPU, torch::kDouble), o.pca_dimensions);
  const double perplexity = std::min(o.perplexity, (n - 1) / 3.0);
  const torch::Tensor p =
      tsne_joint_probabilities(squared_distances(x), perplexity).to(torch::kFloat);
  const double lr = o.learning_rate > 0 ? o.learning_rate : std::max(n / o.exaggeration / 4, 50.0);

  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  torch::Tensor y = torch::randn({n, o.dimensions}, gen, torch::TensorOptions()) * 1e-4;
  torch::Tensor update = torch::zeros_like(y), gains = torch::ones_like(y);
  const torch::Tensor off_diagonal = 1 - torch::eye(n);
  TSNEResult r;
  auto kl = [&](const torch::Tensor& num) {
    const torch::Tensor q = (num / num.sum()).clamp_min(1e-12);
    return (p * torch::log(p / q)).sum().item<double>();
  };
  for (int64_t it = 0; it < o.iterations; ++it) {
    const bool early = it < o.exaggeration_iterations;
    const torch::Tensor pe = early ? p * o.exaggeration : p;
    const torch::Tensor num = off_diagonal / (1 + squared_distances(y));
    const torch::Tensor q = num / num.sum();
    const torch::Tensor w = (pe - q) * num;
    const torch::Tensor grad = 4 * (w.sum(1, true) * y - w.mm(y));
    const double momentum = early ? 0.5 : 0.8;
    const torch::Tensor same_sign = (grad > 0) == (update > 0);
    gains = torch::where(same_sign, gains * 0.8, gains + 0.2).clamp_min(0.01);
    update = momentum * update - lr * gains * grad;
    y = y + update;
    if (it + 1 == o.exaggeration_iterations)
      r.initial_kl = kl(off_diagonal / (1 + squared_distances(y)));
    if (progress && (it + 1) % 50 == 0) progress(it + 1, kl(num));
  }
  r.kl_divergence = kl(off_diagonal / (1 + squared_distances(y)));
  r.embedding = y;
  return r;
}

}  // namespace dcacn
