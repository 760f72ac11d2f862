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

KCriterion parse_k_criterion(const std::string& text, const std::string& option) {
  if (text == "heads") return KCriterion::kHeads;
  if (text == "stability") return KCriterion::kStability;
  throw InputError(option + " must be heads or stability, got '" + text + "'");
}

std::string k_criterion_name(KCriterion criterion) {
  return criterion == KCriterion::kHeads ? "heads" : "stability";
}

int64_t one_standard_error_choice(const std::vector<int64_t>& ks,
                                  const std::vector<double>& criterion,
                                  const std::vector<double>& standard_error) {
  TORCH_CHECK(!ks.empty() && criterion.size() == ks.size() && standard_error.size() == ks.size(),
              "one_standard_error_choice: expected as many criteria and errors as K, and one K");
  const size_t best = std::max_element(criterion.begin(), criterion.end()) - criterion.begin();
  int64_t chosen = ks[best];
  for (size_t i = 0; i < ks.size(); ++i) {
    if (criterion[i] >= criterion[best] - standard_error[best]) chosen = std::min(chosen, ks[i]);
  }
  return chosen;
}

torch::Tensor gaussian_reference(const torch::Tensor& rows, at::Generator& generator) {
  TORCH_CHECK(rows.dim() == 2 && rows.size(0) >= 2,
              "gaussian_reference: expected [N >= 2, D], got ", rows.sizes());
  const torch::Tensor x = rows.to(torch::kCPU, torch::kFloat64);
  const torch::Tensor mean = x.mean(0, true);
  const torch::Tensor centred = x - mean;
  const torch::Tensor cov = centred.t().mm(centred) / static_cast<double>(x.size(0) - 1);
  const int64_t d = x.size(1);
  // A ridge of 1e-6 of the mean variance keeps the factorisation defined for rank-deficient rows.
  const torch::Tensor factor = torch::linalg_cholesky(
      cov + torch::eye(d, torch::kFloat64) * (1e-6 * cov.diagonal().mean().item<double>() + 1e-12));
  return (torch::randn({x.size(0), d}, generator, torch::kFloat64).mm(factor.t()) + mean)
      .to(torch::kFloat32);
}

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
  torch::Tensor reference = gaussian_reference(rows, gen);
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
  out.best = out.chosen = out.ks[best - out.criterion.begin()];
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

std::string KEstimate::csv() const {
  std::string text = method == KCriterion::kHeads
                         ? "k,agreement,standard_error,reference,criterion,chosen\n"
                         : "k,stability,spread,reference,criterion,chosen\n";
  for (size_t i = 0; i < ks.size(); ++i) {
    text += std::to_string(ks[i]) + "," + number(stability[i], "%.6f") + "," +
            number(spread[i], "%.6f") + "," + number(reference[i], "%.6f") + "," +
            number(criterion[i], "%.6f") + "," + (ks[i] == chosen ? "1" : "0") + "\n";
  }
  return text;
}

std::string KEstimate::summary() const {
  // The chosen K first, then the others by criterion.
  std::vector<size_t> order(ks.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if ((ks[a] == chosen) != (ks[b] == chosen)) return ks[a] == chosen;
    return criterion[a] > criterion[b];
  });
  auto entry = [&](size_t i) {
    return "K = " + std::to_string(ks[i]) + " " + number(criterion[i]) + " (" +
           number(stability[i], "%.3f") + " - " + number(reference[i], "%.3f") + ")";
  };
  std::string text = entry(order[0]);
  if (chosen != best) {
    const size_t b = std::find(ks.begin(), ks.end(), best) - ks.begin();
    text += ", the smallest K within one standard error (" + number(spread[b], "%.4f") +
            ") of the largest criterion, " + entry(b);
    order.erase(std::find(order.begin(), order.end(), b));  // not again among the next
  }
  text += "; next:";
  const size_t shown = std::min<size_t>(4, order.size());
  for (size_t i = 1; i < shown; ++i) text += " " + entry(order[i]) + (i + 1 < shown ? "," : "");
  if (order.size() == 1) text += " none";
  return text + "; " + number(seconds, "%.1f") + " s";
}

}  // namespace dcacn
