#include "dcacn/train/neighbour_mining.h"

#include <torch/nn/functional/normalization.h>

#include <chrono>
#include <cmath>

#include "dcacn/cluster/neighbours.h"
#include "dcacn/run/setup.h"
#include "dcacn/util/error.h"
#include "dcacn/util/log.h"
#include "dcacn/util/progress.h"

namespace dcacn {

NeighbourSpace parse_neighbour_space(const std::string& text, const std::string& option) {
  if (text == "pixels") return NeighbourSpace::kPixels;
  if (text == "features") return NeighbourSpace::kFeatures;
  if (text == "both") return NeighbourSpace::kBoth;
  if (text == "auto") return NeighbourSpace::kAuto;
  throw InputError(option + " must be pixels, features, both or auto, got " + text);
}

std::string neighbour_space_name(NeighbourSpace space) {
  switch (space) {
    case NeighbourSpace::kPixels:
      return "pixels";
    case NeighbourSpace::kFeatures:
      return "features";
    case NeighbourSpace::kBoth:
      return "both";
    case NeighbourSpace::kAuto:
      return "auto";
  }
  return "?";
}

namespace {

// "pixel space", for log lines.
std::string space_words(NeighbourSpace space) {
  switch (space) {
    case NeighbourSpace::kPixels:
      return "pixel space";
    case NeighbourSpace::kFeatures:
      return "feature space";
    case NeighbourSpace::kBoth:
      return "pixel and feature space";
    case NeighbourSpace::kAuto:
      break;
  }
  return "?";
}

// Pixel rows are mined on their leading principal components (cluster/neighbours.h).
constexpr int64_t kPixelComponents = 128;

torch::Tensor unit_rows(const torch::Tensor& rows) {
  namespace F = torch::nn::functional;
  return F::normalize(rows, F::NormalizeFuncOptions().dim(1).eps(1e-12));
}

}  // namespace

namespace {

// Feature rows are whitened on at most this many components.
constexpr int64_t kFeatureComponents = 256;

torch::Tensor feature_rows(const torch::Tensor& features, bool whiten, torch::Device device) {
  const torch::Tensor f = features.to(device, torch::kFloat32);
  return whiten ? whitened_components(f, kFeatureComponents) : f;
}

}  // namespace

torch::Tensor pixel_rows(const torch::Tensor& images, bool whiten, torch::Device device) {
  const torch::Tensor pixels = pixel_space(images, device);
  return whiten ? whitened_components(pixels, kPixelComponents)
                : principal_components(pixels, kPixelComponents);
}

torch::Tensor combined_space(const torch::Tensor& images, const torch::Tensor& features,
                             torch::Device device, bool whiten) {
  TORCH_CHECK(features.dim() == 2 && features.size(0) == images.size(0),
              "combined_space: expected [", images.size(0), ", D] features, got ",
              features.sizes());
  torch::NoGradGuard no_grad;
  const torch::Tensor pixels = unit_rows(pixel_rows(images, whiten, device));
  const torch::Tensor f = unit_rows(feature_rows(features, whiten, device));
  return torch::cat({pixels, f}, 1) / std::sqrt(2.0);
}

torch::Tensor pixel_space(const torch::Tensor& images, torch::Device device) {
  // Larger images would make the rows, and the similarity products, costly without making the
  // neighbours better.
  constexpr int64_t kSide = 32;
  std::vector<torch::Tensor> rows;
  for (int64_t start = 0; start < images.size(0); start += 4096) {
    torch::Tensor x =
        to_device(images.slice(0, start, start + 4096), device).to(torch::kFloat32) / 255.0;
    if (x.size(2) > kSide || x.size(3) > kSide) {
      x = torch::adaptive_avg_pool2d(x, {std::min(kSide, x.size(2)), std::min(kSide, x.size(3))});
    }
    rows.push_back(x.flatten(1));
  }
  return torch::cat(rows);
}

namespace {

// The cache's key of the graph mine_neighbours would give now: pixel neighbours never change;
// feature neighbours hold for one state of the network.
std::string mining_key(StageContext& context, NeighbourSpace space, int64_t k, bool whiten) {
  return c10::str(neighbour_space_name(space), ":k=", k, whiten ? ":whitened" : "",
                  space == NeighbourSpace::kPixels ? std::string()
                                                   : c10::str(":step=", context.network_version()));
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

bool neighbours_mined(StageContext& context, NeighbourSpace space, int64_t k, bool whiten) {
  k = std::min<int64_t>(k, context.images().size() - 1);
  return context.cached_neighbours(mining_key(context, space, k, whiten)).defined();
}

double mining_seconds(StageContext& context, NeighbourSpace space, int64_t k) {
  const int64_t n = context.images().size();
  k = std::min<int64_t>(k, n - 1);
  if (k < 1) return 0;
  torch::NoGradGuard no_grad;
  const torch::Device device = context.device();
  double seconds = 0;
  int64_t width = 0;
  if (space != NeighbourSpace::kFeatures) {
    // The pixel rows and their principal components, timed on a slice: both grow with N.
    const int64_t m = std::min<int64_t>(n, 4096);
    const auto start = std::chrono::steady_clock::now();
    const torch::Tensor pc = principal_components(
        pixel_space(context.images().images.slice(0, 0, m), device), kPixelComponents);
    width += pc.size(1);
    seconds += seconds_since(start) * static_cast<double>(n) / static_cast<double>(m);
  }
  if (space != NeighbourSpace::kPixels) {
    width += context.model()->cluster_head->options.feature_dim();
  }
  // One chunk of the similarity search on random rows of the space's width, after one untimed.
  const NeighbourOptions mine;
  const int64_t chunk = std::min(mine.chunk, n);
  const torch::Tensor all_t = torch::randn({width, n}, torch::TensorOptions().device(device));
  const torch::Tensor rows = torch::randn({chunk, width}, all_t.options());
  // Both ways mining may go (nearest_neighbours' kFastest keeps the faster): float32 products,
  // or bfloat16 products shortlisting 2k + 8 candidates (their float32 ranking is small).
  const torch::Tensor low_t = all_t.to(torch::kBFloat16), low = rows.to(torch::kBFloat16);
  const int64_t m = std::min<int64_t>(n - 1, 2 * k + 8);
  auto float32 = [&] {
    return std::get<1>(torch::mm(rows, all_t).topk(k, 1)).sum().item<int64_t>();
  };
  auto shortlist = [&] {
    return std::get<1>(torch::mm(low, low_t).topk(m, 1, true, false)).sum().item<int64_t>();
  };
  auto timed = [&](auto&& search) {
    search();
    const auto start = std::chrono::steady_clock::now();
    search();
    return seconds_since(start);
  };
  const double per_chunk = std::min(timed(float32), timed(shortlist));
  const double chunks = std::ceil(static_cast<double>(n) / static_cast<double>(chunk));
  return seconds + per_chunk * chunks;
}

torch::Tensor mine_neighbours_of(const torch::Tensor& images, const torch::Tensor& features,
                                 NeighbourSpace space, int64_t k, bool whiten, torch::Device device,
                                 const NeighbourProgress& progress, NeighbourSearch* search,
                                 NeighbourOptions::Products products) {
  torch::NoGradGuard no_grad;
  NeighbourOptions mine;
  mine.k = k;
  mine.products = products;
  torch::Tensor rows;
  switch (space) {
    case NeighbourSpace::kPixels:
      rows = pixel_rows(images, whiten, device);
      break;
    case NeighbourSpace::kFeatures:
      rows = feature_rows(features, whiten, device);
      break;
    case NeighbourSpace::kBoth:
      rows = combined_space(images, features, device, whiten);
      break;
    case NeighbourSpace::kAuto:
      TORCH_CHECK(false,
                  "mine_neighbours_of: auto is not a space to mine in (the neighbour stage "
                  "chooses one)");
  }
  return nearest_neighbours(rows, mine, progress, search).cpu();
}

torch::Tensor mine_neighbours(StageContext& context, NeighbourSpace space, int64_t k, bool whiten,
                              const std::string& who) {
  const bool pixels = space == NeighbourSpace::kPixels;
  const int64_t n = context.images().size();
  k = std::min<int64_t>(k, n - 1);
  const std::string key = mining_key(context, space, k, whiten);
  torch::Tensor cached = context.cached_neighbours(key);
  if (cached.defined()) {
    log_info(c10::str(who, ": the ", k, " nearest neighbours in ", space_words(space),
                      whiten ? " (whitened)" : "", " as mined before"));
    return cached;
  }
  log_info(c10::str(who, ": mining the ", k, " nearest neighbours of ", n, " images in ",
                    space_words(space), whiten ? " (whitened)" : ""));
  const auto start = std::chrono::steady_clock::now();
  NeighbourSearch search;
  torch::Tensor neighbours = mine_neighbours_of(
      context.images().images, pixels ? torch::Tensor() : context.features(), space, k, whiten,
      context.device(),
      [&](int64_t done, int64_t all) {
        context.show_progress(c10::str(who, ": neighbours of images ", done, "/", all));
      },
      &search);
  context.finish_progress();
  if (search.shortlist_seconds > 0) {
    log_info(c10::str(who, ": similarities ",
                      search.used == NeighbourOptions::Products::kShortlist
                          ? "shortlisted in bfloat16, then ranked in float32"
                          : "in float32",
                      " (one chunk timed each way: float32 ", fixed(search.float32_seconds, 2),
                      " s, bfloat16 shortlist ", fixed(search.shortlist_seconds, 2), " s)"));
  }
  context.record_neighbours(key, neighbours, seconds_since(start));
  return neighbours;
}

double neighbour_fit(const torch::Tensor& clusters, const torch::Tensor& graph) {
  const torch::Tensor c = clusters.to(torch::kCPU, torch::kInt64);
  const torch::Tensor share = torch::bincount(c).to(torch::kFloat64) / c.size(0);
  return neighbour_agreement(c, graph).to(torch::kFloat64).mean().item<double>() -
         (share * share).sum().item<double>();
}

torch::Tensor neighbour_agreement(const torch::Tensor& clusters, const torch::Tensor& neighbours) {
  TORCH_CHECK(
      clusters.dim() == 1 && neighbours.dim() == 2 && neighbours.size(0) == clusters.size(0),
      "neighbour_agreement: expected [N] clusters and [N, k] neighbours, got ", clusters.sizes(),
      " and ", neighbours.sizes());
  const torch::Tensor c = clusters.to(torch::kInt64);
  return c.index_select(0, neighbours.reshape(-1).to(torch::kInt64))
      .view_as(neighbours)
      .eq(c.unsqueeze(1))
      .to(torch::kFloat32)
      .mean(1);
}

}  // namespace dcacn
