#pragma once
// t-SNE (van der Maaten & Hinton, 2008), exact: O(n^2) memory and time per iteration, meant for
// subsamples of a few thousand points, with batched tensor operations throughout.
//
// Defaults follow scikit-learn's TSNE: PCA to 50 dimensions first, perplexity 30, early
// exaggeration 12 for the first 250 of 1000 iterations, momentum 0.5 then 0.8, per-coordinate
// gains (delta-bar-delta, minimum 0.01), learning rate max(n / 12 / 4, 50); the initial points
// are random (standard deviation 1e-4, from the seed), not PCA.

#include <torch/types.h>

#include <cstdint>
#include <functional>

namespace dcacn {

struct TSNEOptions {
  int64_t dimensions = 2;
  double perplexity = 30;
  int64_t iterations = 1000;
  int64_t exaggeration_iterations = 250;
  double exaggeration = 12;
  double learning_rate = 0;     ///< 0: max(n / exaggeration / 4, 50)
  int64_t pca_dimensions = 50;  ///< 0: no PCA
  uint64_t seed = 0;
};

struct TSNEResult {
  torch::Tensor embedding;   ///< [n, dimensions] float
  double kl_divergence = 0;  ///< KL(P || Q) at the end
  double initial_kl = 0;     ///< after the exaggeration phase
};

/// Embeds the rows of `x` [n, D] (n >= 2). `progress(iteration, kl)` is called every 50
/// iterations when given.
TSNEResult tsne(const torch::Tensor& x, const TSNEOptions& options = {},
                const std::function<void(int64_t, double)>& progress = nullptr);

/// The symmetric joint probabilities P [n, n] of t-SNE for squared distances `d2` [n, n],
/// each row's Gaussian bandwidth set by bisection to the given perplexity.
torch::Tensor tsne_joint_probabilities(const torch::Tensor& d2, double perplexity);

}  // namespace dcacn
