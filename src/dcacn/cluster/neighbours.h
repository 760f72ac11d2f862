#pragma once
// Nearest neighbours by cosine similarity, as SCAN mines them for its clustering step: for each
// row of a matrix, the k other rows most similar to it.

#include <torch/types.h>

#include <cstdint>
#include <functional>

namespace dcacn {

struct NeighbourOptions {
  /// Neighbours per row (the row itself excluded).
  int64_t k = 20;
  /// Rows whose similarities to all others are computed at once ([chunk, N] floats).
  int64_t chunk = 2048;
  /// Subtract the column means first (cosine similarity of centred rows, the usual choice for
  /// raw pixels, whose shared background would otherwise dominate every similarity).
  bool centre = false;
  /// How the similarities are computed. kFloat32: every product in float32. kShortlist: the
  /// products in bfloat16 to shortlist 2k + 8 candidates per row, whose float32 similarities
  /// then pick the k (the same neighbours unless bfloat16's rounding, about 0.4% of a
  /// similarity, pushes a true neighbour out of the shortlist). kFastest: the first chunk one
  /// way and the second the other, timed, then the faster for the rest (bfloat16 products are
  /// 2.5x faster than float32 on a CPU with AVX-512 BF16, and slower without it).
  enum class Products { kFloat32, kShortlist, kFastest };
  Products products = Products::kFloat32;
};

/// What nearest_neighbours did, for logs.
struct NeighbourSearch {
  NeighbourOptions::Products used = NeighbourOptions::Products::kFloat32;
  double float32_seconds = 0, shortlist_seconds = 0;  ///< the timed chunks (kFastest)
};

/// Called after each chunk with (rows done, rows in all); for progress output.
using NeighbourProgress = std::function<void(int64_t, int64_t)>;

/// [N, k] int64: the indices of each row's k most cosine-similar other rows of `x` ([N, D],
/// any floating dtype, any device), most similar first. Rows of zero norm are similar to
/// nothing (similarity 0). Needs N > k.
torch::Tensor nearest_neighbours(const torch::Tensor& x, const NeighbourOptions& options,
                                 const NeighbourProgress& progress = nullptr,
                                 NeighbourSearch* search = nullptr);

/// [N, min(D, dims)] float: the rows of `x` ([N, D]) centred and, when D > dims, projected onto
/// their first `dims` principal components (eigenvectors of the covariance, in float64). Cosine
/// similarities of the result are those of the centred rows restricted to where they vary most:
/// mining neighbours of 784-pixel rows on 128 components costs a third of the time (the
/// similarity products shrink 6x, the top-k search stays) and, on Fashion-MNIST, keeps the
/// neighbours as pure (0.814 against 0.811 of the 20 nearest share their image's class).
torch::Tensor principal_components(const torch::Tensor& x, int64_t dims);

/// [N, m] float: principal_components(x, dims) with every component scaled to unit variance
/// (PCA whitening); components whose variance is below 1e-6 of the largest are left out, so m <=
/// min(D, dims). Cosine similarities of whitened rows weigh every direction of the data alike
/// instead of letting the few of largest variance decide: on 20,000 Fashion-MNIST images the 20
/// nearest neighbours shared their image's class more often (pixels 0.786 against 0.781; the
/// features of a 400-step contrastive network 0.755 against 0.712).
torch::Tensor whitened_components(const torch::Tensor& x, int64_t dims);

}  // namespace dcacn
