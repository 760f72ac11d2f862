#pragma once
// The two projection heads of DCACN (and CC) on the pooled backbone feature.

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

namespace dcacn {

struct InstanceHeadOptions {
  explicit InstanceHeadOptions(int64_t feature_dim) : feature_dim_(feature_dim) {}
  /// D, the backbone's pooled feature width.
  TORCH_ARG(int64_t, feature_dim);
  /// Width of the contrastive embedding.
  TORCH_ARG(int64_t, embedding_dim) = 128;
};

/// Linear(D, D) - ReLU - Linear(D, 128), L2-normalised: [N, D] -> [N, 128], unit rows.
class InstanceHeadImpl : public torch::nn::Cloneable<InstanceHeadImpl> {
 public:
  explicit InstanceHeadImpl(const InstanceHeadOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& features);

  InstanceHeadOptions options;
  torch::nn::Sequential mlp{nullptr};
};
TORCH_MODULE(InstanceHead);

struct ClusterHeadOptions {
  ClusterHeadOptions(int64_t feature_dim, int64_t clusters)
      : feature_dim_(feature_dim), clusters_(clusters) {}
  TORCH_ARG(int64_t, feature_dim);
  /// K, the number of clusters.
  TORCH_ARG(int64_t, clusters);
};

/// Linear(D, D) - ReLU - Linear(D, K), softmax: [N, D] -> [N, K] probabilities.
class ClusterHeadImpl : public torch::nn::Cloneable<ClusterHeadImpl> {
 public:
  explicit ClusterHeadImpl(const ClusterHeadOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& features);
  /// Pre-softmax scores, [N, K].
  torch::Tensor logits(const torch::Tensor& features);

  ClusterHeadOptions options;
  torch::nn::Sequential mlp{nullptr};
};
TORCH_MODULE(ClusterHead);

}  // namespace dcacn
