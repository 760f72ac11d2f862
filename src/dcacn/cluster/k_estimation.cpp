#include "dcacn/cluster/k_estimation.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "dcacn/cluster/kmeans.h"
#include "dcacn/metrics/metrics.h"
#include "dcacn/util/error.h"

namespace dcacn {
namespace {

std::vector<int64_t> to_vector(const torch::Tensor& labels) {
  const torch::Tensor c = labels.to(torch::kCPU, torch::kInt64).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

std::string number(double v, const char* format = "%.4f") {
  char text[32];
  std::snprintf(text, sizeof(text), format, v);
  return text;
}

}  // namespace

KEstimate estimate_clusters(const torch::Tensor& x, const KEstimationOptions& o) {
  DCACN_CHECK(x.dim() == 2, "estimating K: expected [N, D] rows, got ", x.sizes());
  DCACN_CHECK(o.min_k() >= 2 && o.max_k() >= o.min_k(),
              "estimating K: the range must be A-B with 2 <= A <= B, got ", o.min_k(), "-",
              o.max_k());
  const int64_t n = x.size(0);
  DCACN_CHECK(n > o.max_k(), "estimating K up to ", o.max_k(), " needs more than ", o.max_k(),
              " images, got ", n);
  DCACN_CHECK(o.pairs() >= 1 && o.subsample() >= 2 && o.evaluation() >= 2 && o.restarts() >= 1,
              "estimating K: pairs, subsample, evaluation and restarts must be positive");
  const auto start = std::chrono::steady_clock::now();
  torch::Tensor rows = x.to(torch::kCPU, torch::kFloat32);
  rows = rows / rows.norm(2, 1, true).clamp_min(1e-12);
  at::Generator gen = at::detail::createCPUGenerator(o.seed());
  const auto cpu_long = torch::TensorOptions().dtype(torch::kInt64);
  const int64_t m = std::min(n, o.subsample());
  const int64_t e = std::min(n, o.evaluation());
  // The reference: as many rows drawn from a Gaussian with the rows' mean and covariance.
  const torch::Tensor centred = rows.to(torch::kFloat64) - rows.to(torch::kFloat64).mean(0, true);
  const torch::Tensor cov = centred.t().mm(centred) / static_cast<double>(n - 1);
  const int64_t d = rows.size(1);
  const torch::Tensor factor = torch::linalg_cholesky(
      cov + torch::eye(d, torch::kFloat64) * (1e-6 * cov.diagonal().mean().item<double>() + 1e-12));
  torch::Tensor reference = (torch::randn({n, d}, gen, torch::kFloat64).mm(factor.t()) +
                             rows.to(torch::kFloat64).mean(0, true))
                                .to(torch::kFloat32);
  reference = reference / reference.norm(2, 1, true).clamp_min(1e-12);
  const torch::Tensor evaluation_index = torch::randperm(n, gen, cpu_long).narrow(0, 0, e);
  KEstimate out;
  for (int64_t k = o.min_k(); k <= o.max_k(); ++k) {
    // A subsample smaller than K + 1 rows cannot be clustered into K; use all rows then.
    const int64_t size = std::max(m, std::min(n, k + 1));
    double mean[2] = {0, 0}, spread = 0;
    for (int which = 0; which < 2; ++which) {
      const torch::Tensor& x_k = which == 0 ? rows : reference;
      const torch::Tensor evaluation = x_k.index_select(0, evaluation_index);
      std::vector<double> agreement;
      for (int64_t pair = 0; pair < o.pairs(); ++pair) {
        std::vector<int64_t> assigned[2];
        for (int fit = 0; fit < 2; ++fit) {
          const torch::Tensor sample =
              x_k.index_select(0, torch::randperm(n, gen, cpu_long).narrow(0, 0, size));
          KMeansOptions km;
          km.k = k;
          km.n_init = o.restarts();
          km.seed = o.seed() + static_cast<uint64_t>(1000003 * k + 1009 * pair + 2 * which + fit);
          const KMeansResult r = kmeans(sample, km);
          assigned[fit] = to_vector(nearest_center(evaluation, r.centers));
        }
        agreement.push_back(adjusted_rand_index(assigned[0], assigned[1]));
      }
      for (double a : agreement) mean[which] += a;
      mean[which] /= agreement.size();
      if (which == 0) {
        for (double a : agreement) spread += (a - mean[0]) * (a - mean[0]);
        spread = std::sqrt(spread / agreement.size());
      }
    }
    out.ks.push_back(k);
    out.stability.push_back(mean[0]);
    out.spread.push_back(spread);
    out.reference.push_back(mean[1]);
    out.criterion.push_back(mean[0] - mean[1]);
  }
  const auto best = std::max_element(out.criterion.begin(), out.criterion.end());
  out.chosen = out.ks[best - out.criterion.begin()];
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

std::string KEstimate::csv() const {
  std::string text = "k,stability,spread,reference,criterion,chosen\n";
  for (size_t i = 0; i < ks.size(); ++i) {
    text += std::to_string(ks[i]) + "," + number(stability[i], "%.6f") + "," +
            number(spread[i], "%.6f") + "," + number(reference[i], "%.6f") + "," +
            number(criterion[i], "%.6f") + "," + (ks[i] == chosen ? "1" : "0") + "\n";
  }
  return text;
}

std::string KEstimate::summary() const {
  std::vector<size_t> order(ks.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return criterion[a] > criterion[b]; });
  auto entry = [&](size_t i) {
    return "K = " + std::to_string(ks[i]) + " " + number(criterion[i]) + " (" +
           number(stability[i], "%.3f") + " - " + number(reference[i], "%.3f") + ")";
  };
  std::string text = entry(order[0]) + "; next:";
  const size_t shown = std::min<size_t>(4, order.size());
  for (size_t i = 1; i < shown; ++i) text += " " + entry(order[i]) + (i + 1 < shown ? "," : "");
  if (order.size() == 1) text += " none";
  return text + "; " + number(seconds, "%.1f") + " s";
}

}  // namespace dcacn
