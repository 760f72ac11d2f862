#include "dcacn/cluster/kmeans.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>

#include "dcacn/util/error.h"

namespace dcacn {
namespace {

// Rows per matrix product (bounds the [rows, K] temporaries). Gathered copies stay below glibc's 32
// MB mmap threshold (4096 x 784 x 8 B = 25 MB in float64), so their memory is reused instead of
// being mapped and faulted in afresh on every call, which cost more than the arithmetic.
constexpr int64_t kChunk = 16384;
constexpr int64_t kGatherChunk = 4096;
// Relative slack on the bound test, well above float32 rounding of computed distances.
constexpr float kBoundSlack = 1e-5f;

// Squared distances [M, K] of rows `x` ([M, D], squared norms `x_sq`) to centres `c`.
torch::Tensor squared_distances(const torch::Tensor& x, const torch::Tensor& x_sq,
                                const torch::Tensor& c, const torch::Tensor& c_sq) {
  torch::Tensor d2 = torch::addmm(c_sq.unsqueeze(0), x, c.t(), /*beta=*/1, /*alpha=*/-2);
  return d2.add_(x_sq.unsqueeze(1)).clamp_min_(0);
}

// State of one Lloyd restart.
class LloydRun {
 public:
  LloydRun(const torch::Tensor& x, const torch::Tensor& x_sq, torch::Tensor centers)
      : x_(x), x_sq_(x_sq), centers_(std::move(centers)), k_(centers_.size(0)), n_(x.size(0)) {
    labels_ = torch::empty({n_}, x.options().dtype(torch::kInt64));
    upper_ = torch::empty({n_}, x.options());
    lower_ = torch::empty({n_, k_}, x.options());
    assign_rows(torch::Tensor());
    // Centre sums kept in float64 so the incremental updates below do not drift (the initial
    // sums come from float32 products, like scikit-learn's float32 accumulation).
    sums_ = torch::zeros({k_, x.size(1)}, x.options().dtype(torch::kFloat64));
    counts_ = torch::bincount(labels_, {}, k_).to(torch::kFloat64);
    for (int64_t start = 0; start < n_; start += kChunk) {
      const int64_t end = std::min(n_, start + kChunk);
      torch::Tensor members = torch::one_hot(labels_.slice(0, start, end), k_).to(x.dtype());
      sums_.add_(members.t().mm(x_.slice(0, start, end)).to(torch::kFloat64));
    }
  }

  // One Lloyd iteration: assignment (skipping bounded points), then centre update.
  // Returns the number of labels that changed (all rows count on the first call).
  int64_t assign_step(bool first) {
    if (first) return n_;
    torch::Tensor c_half_gap = half_min_center_gap();
    torch::Tensor threshold = torch::maximum(lower_.amin(1), c_half_gap.index_select(0, labels_));
    torch::Tensor candidates =
        (upper_ * (1 + kBoundSlack) >= threshold * (1 - kBoundSlack)).nonzero().view(-1);
    if (candidates.numel() == 0) return 0;
    torch::Tensor old_labels = labels_.index_select(0, candidates);
    assign_rows(candidates);
    torch::Tensor new_labels = labels_.index_select(0, candidates);
    torch::Tensor changed = (new_labels != old_labels).nonzero().view(-1);
    if (changed.numel() > 0) {
      move_points(candidates.index_select(0, changed), old_labels.index_select(0, changed),
                  new_labels.index_select(0, changed));
    }
    return changed.numel();
  }

  // Moves the centres to the means of their points; returns the summed squared shift.
  double update_centers() {
    relocate_empty_clusters();
    torch::Tensor new_centers = (sums_ / counts_.unsqueeze(1)).to(centers_.scalar_type());
    torch::Tensor shift =
        (new_centers.to(torch::kFloat64) - centers_.to(torch::kFloat64)).pow(2).sum(1);
    centers_ = new_centers;
    torch::Tensor shift_norm = shift.sqrt().to(upper_.scalar_type());
    upper_.add_(shift_norm.index_select(0, labels_));
    lower_.sub_(shift_norm.unsqueeze(0));
    return shift.sum().item<double>();
  }

  // Exact assignment of every row to the final centres (scikit-learn's closing E-step).
  void final_assignment() { assign_step(false); }

  // sum_i |x_i - c_a(i)|^2 = sum_i |x_i|^2 - 2 sum_k c_k . s_k + sum_k n_k |c_k|^2, with the
  // float64 member sums s_k and counts n_k that are kept up to date: no pass over the data.
  double inertia() const {
    torch::Tensor c = centers_.to(torch::kFloat64);
    const double x_term = x_sq_.sum(0, /*keepdim=*/false, torch::kFloat64).item<double>();
    const double cross = (c * sums_).sum().item<double>();
    const double c_term = (counts_ * c.pow(2).sum(1)).sum().item<double>();
    return std::max(0.0, x_term - 2.0 * cross + c_term);
  }

  double rows_computed() const { return rows_computed_; }
  const torch::Tensor& centers() const { return centers_; }
  const torch::Tensor& labels() const { return labels_; }

 private:
  // Half the distance from each centre to its nearest other centre: a point closer than that
  // to its own centre cannot be closer to another one.
  torch::Tensor half_min_center_gap() const {
    torch::Tensor c = centers_.to(torch::kFloat64);
    torch::Tensor gaps = torch::cdist(c, c);
    gaps.fill_diagonal_(std::numeric_limits<double>::infinity());
    return (std::get<0>(gaps.min(1)) * 0.5).to(upper_.scalar_type());
  }

  // Nearest and second-nearest centre distances for `rows` (all rows when undefined).
  void assign_rows(const torch::Tensor& rows) {
    torch::Tensor c_sq = centers_.pow(2).sum(1);
    const int64_t m = rows.defined() ? rows.numel() : n_;
    rows_computed_ += static_cast<double>(m);
    const int64_t chunk = rows.defined() ? kGatherChunk : kChunk;
    for (int64_t start = 0; start < m; start += chunk) {
      const int64_t end = std::min(m, start + chunk);
      torch::Tensor idx = rows.defined() ? rows.slice(0, start, end) : torch::Tensor();
      torch::Tensor xs = idx.defined() ? x_.index_select(0, idx) : x_.slice(0, start, end);
      torch::Tensor xs_sq = idx.defined() ? x_sq_.index_select(0, idx) : x_sq_.slice(0, start, end);
      torch::Tensor dist = squared_distances(xs, xs_sq, centers_, c_sq).sqrt_();
      auto [best_dist, best] = dist.min(1);
      // Lower bounds to every other centre; the own centre's column is +inf so that the
      // row minimum is the distance to the nearest other centre.
      dist.scatter_(1, best.unsqueeze(1), std::numeric_limits<float>::infinity());
      if (idx.defined()) {
        labels_.index_copy_(0, idx, best);
        upper_.index_copy_(0, idx, best_dist);
        lower_.index_copy_(0, idx, dist);
      } else {
        labels_.slice(0, start, end).copy_(best);
        upper_.slice(0, start, end).copy_(best_dist);
        lower_.slice(0, start, end).copy_(dist);
      }
    }
  }

  // scikit-learn's rule: an empty cluster takes the point farthest from its own centre.
  void relocate_empty_clusters() {
    torch::Tensor empty = (counts_ == 0).nonzero().view(-1);
    if (empty.numel() == 0) return;
    torch::Tensor c_sq = centers_.pow(2).sum(1);
    torch::Tensor own = torch::empty({n_}, x_.options());
    for (int64_t start = 0; start < n_; start += kChunk) {
      const int64_t end = std::min(n_, start + kChunk);
      torch::Tensor d2 =
          squared_distances(x_.slice(0, start, end), x_sq_.slice(0, start, end), centers_, c_sq);
      own.slice(0, start, end)
          .copy_(d2.gather(1, labels_.slice(0, start, end).unsqueeze(1)).view(-1));
    }
    torch::Tensor far = std::get<1>(own.topk(empty.numel()));
    move_points(far, labels_.index_select(0, far), empty);
    labels_.index_copy_(0, far, empty);
    // Their bounds no longer describe their centres: force a recomputation.
    upper_.index_fill_(0, far, std::numeric_limits<float>::infinity());
  }

  // Moves `rows` from clusters `from` (undefined: from nowhere) to clusters `to` in the centre
  // sums and counts, as one matrix product with the +1/-1 membership changes. (index_add_
  // on CPU adds row by row, which costs more than the whole product here.)
  void move_points(const torch::Tensor& rows, const torch::Tensor& from, const torch::Tensor& to) {
    for (int64_t start = 0; start < rows.numel(); start += kGatherChunk) {
      const int64_t end = std::min(rows.numel(), start + kGatherChunk);
      torch::Tensor moved_x = x_.index_select(0, rows.slice(0, start, end)).to(torch::kFloat64);
      torch::Tensor change = torch::one_hot(to.slice(0, start, end), k_);
      if (from.defined()) change = change - torch::one_hot(from.slice(0, start, end), k_);
      change = change.to(torch::kFloat64);
      sums_.addmm_(change.t(), moved_x);
      counts_.add_(change.sum(0));
    }
  }

  torch::Tensor x_, x_sq_, centers_;
  int64_t k_, n_;
  torch::Tensor labels_, upper_, lower_, sums_, counts_;
  double rows_computed_ = 0.0;
};

}  // namespace

torch::Tensor kmeans_plus_plus(const torch::Tensor& x, const torch::Tensor& x_sq, int64_t k,
                               int64_t runs, at::Generator& generator) {
  const int64_t n = x.size(0);
  const int64_t trials = 2 + static_cast<int64_t>(std::log(static_cast<double>(k)));
  const auto cpu_long = torch::TensorOptions().dtype(torch::kInt64);
  const auto cpu_double = torch::TensorOptions().dtype(torch::kFloat64);
  torch::Tensor chosen = torch::empty({runs, k}, cpu_long);
  chosen.select(1, 0).copy_(torch::randint(n, {runs}, generator, cpu_long));
  // Distances are computed as [candidates, N] (centres on the left) so that no transposed
  // copy of the [N, candidates] product is needed.
  auto distances_to_all = [&](const torch::Tensor& centres) {
    return torch::addmm(x_sq.unsqueeze(0), centres, x.t(), /*beta=*/1, /*alpha=*/-2)
        .add_(centres.pow(2).sum(1, /*keepdim=*/true))
        .clamp_min_(0);
  };
  // closest[r, i]: squared distance of row i to the nearest centre chosen so far in run r.
  torch::Tensor closest = distances_to_all(x.index_select(0, chosen.select(1, 0).to(x.device())));
  for (int64_t c = 1; c < k; ++c) {
    // Sampling proportional to D^2 needs the running sum in float64 (70,000 terms).
    torch::Tensor cumulative = closest.cumsum(1, torch::kFloat64);
    torch::Tensor potential = cumulative.select(1, n - 1);
    torch::Tensor draws =
        torch::rand({runs, trials}, generator, cpu_double).to(x.device()) * potential.unsqueeze(1);
    torch::Tensor candidates = torch::searchsorted(cumulative, draws).clamp_max_(n - 1);
    torch::Tensor d2 =
        distances_to_all(x.index_select(0, candidates.view(-1))).view({runs, trials, n});
    torch::Tensor merged = torch::minimum(d2, closest.unsqueeze(1));
    torch::Tensor best = merged.sum(2, /*keepdim=*/false, torch::kFloat64).argmin(1);  // [runs]
    closest = merged.gather(1, best.view({runs, 1, 1}).expand({runs, 1, n})).squeeze(1);
    chosen.select(1, c).copy_(candidates.gather(1, best.unsqueeze(1)).squeeze(1).cpu());
  }
  return x.index_select(0, chosen.view(-1).to(x.device())).view({runs, k, x.size(1)});
}

torch::Tensor nearest_center(const torch::Tensor& x, const torch::Tensor& centers) {
  TORCH_CHECK(x.dim() == 2 && centers.dim() == 2 && x.size(1) == centers.size(1),
              "nearest_center: expected [N, D] and [K, D], got ", x.sizes(), " and ",
              centers.sizes());
  torch::Tensor xf = x.to(centers.scalar_type());
  torch::Tensor c_sq = centers.pow(2).sum(1);
  std::vector<torch::Tensor> parts;
  for (int64_t start = 0; start < xf.size(0); start += kChunk) {
    torch::Tensor xs = xf.slice(0, start, std::min(xf.size(0), start + kChunk));
    parts.push_back(squared_distances(xs, xs.pow(2).sum(1), centers, c_sq).argmin(1));
  }
  return parts.empty() ? torch::empty({0}, x.options().dtype(torch::kInt64)) : torch::cat(parts);
}

KMeansResult kmeans(const torch::Tensor& x_in, const KMeansOptions& options,
                    const KMeansProgress& progress) {
  TORCH_CHECK(x_in.dim() == 2, "kmeans: expected [N, D] data, got shape ", x_in.sizes());
  TORCH_CHECK(x_in.is_floating_point(), "kmeans: expected floating-point data, got ",
              x_in.scalar_type());
  const int64_t n = x_in.size(0);
  DCACN_CHECK(options.k >= 1, "--k must be at least 1, got ", options.k);
  DCACN_CHECK(options.k <= n, "--k ", options.k, " is larger than the number of samples (", n, ")");
  DCACN_CHECK(options.n_init >= 1, "--n-init must be at least 1, got ", options.n_init);
  DCACN_CHECK(options.max_iter >= 1, "--max-iter must be at least 1, got ", options.max_iter);
  DCACN_CHECK(options.tol >= 0, "--tol must be non-negative, got ", options.tol);
  torch::Tensor x = x_in.to(torch::kFloat32).contiguous();
  TORCH_CHECK(torch::isfinite(x).all().item<bool>(), "kmeans: data contains NaN or Inf");

  torch::Tensor x_sq = x.pow(2).sum(1);
  // scikit-learn's tolerance: relative to the mean per-feature variance.
  // mean_j var_j = sum_ij x_ij^2 / (N D) - sum_j mean_j^2 / D, without a float64 copy of x.
  const double d = static_cast<double>(x.size(1));
  const torch::Tensor feature_mean =
      torch::ones({1, n}, x.options()).mm(x).to(torch::kFloat64).div_(static_cast<double>(n));
  const double mean_variance =
      x_sq.to(torch::kFloat64).sum().item<double>() / (static_cast<double>(n) * d) -
      feature_mean.pow(2).sum().item<double>() / d;
  const double tol = options.tol * std::max(mean_variance, 0.0);

  using Clock = std::chrono::steady_clock;
  auto seconds_since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  KMeansResult result;
  const auto seeding_start = Clock::now();
  at::Generator generator = at::detail::createCPUGenerator(options.seed);
  torch::Tensor seeds = kmeans_plus_plus(x, x_sq, options.k, options.n_init, generator);
  result.seeding_seconds = seconds_since(seeding_start);

  result.inertia = std::numeric_limits<double>::infinity();
  // Restarts are independent: on CPU run them side by side, one per core, each with
  // single-threaded tensor ops (ATen and OpenBLAS see the OpenMP region and stay serial). The
  // small gathers and thin matrix products of a restart keep one core busy, not two, so this
  // nearly halves the time on two cores. The result does not depend on the scheduling.
  const int64_t runs = options.n_init;
  std::vector<KMeansRun> summaries(runs);
  std::vector<torch::Tensor> run_centers(runs), run_labels(runs);
  std::vector<std::exception_ptr> errors(runs);
  std::mutex progress_mutex;
  auto fit_one = [&](int64_t r) {
    try {
      const auto run_start = Clock::now();
      LloydRun run(x, x_sq, seeds[r].clone());
      KMeansRun& summary = summaries[r];
      bool strict = false;
      for (int64_t it = 0; it < options.max_iter; ++it) {
        summary.iterations = it + 1;
        if (run.assign_step(/*first=*/it == 0) == 0) {
          strict = true;  // no label moved: the centres are already the means
          summary.converged = true;
          break;
        }
        if (run.update_centers() <= tol) {
          summary.converged = true;
          break;
        }
      }
      if (!strict) run.final_assignment();
      summary.inertia = run.inertia();
      summary.distance_passes = run.rows_computed() / static_cast<double>(n);
      summary.seconds = seconds_since(run_start);
      run_centers[r] = run.centers();
      run_labels[r] = run.labels();
      if (progress) {
        std::lock_guard<std::mutex> lock(progress_mutex);
        progress(r, summary);
      }
    } catch (...) {
      errors[r] = std::current_exception();
    }
  };
  const int threads = x.is_cuda() ? 1 : std::max(1, at::get_num_threads());
  if (threads > 1 && runs > 1) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t r = 0; r < runs; ++r) fit_one(r);
  } else {
    for (int64_t r = 0; r < runs; ++r) fit_one(r);
  }
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  result.runs = summaries;
  result.inertia = std::numeric_limits<double>::infinity();
  for (int64_t r = 0; r < runs; ++r) {
    if (summaries[r].inertia < result.inertia) {  // ties: the lowest restart index wins
      result.inertia = summaries[r].inertia;
      result.best_run = r;
    }
  }
  result.centers = run_centers[result.best_run];
  result.labels = run_labels[result.best_run];
  return result;
}

}  // namespace dcacn
