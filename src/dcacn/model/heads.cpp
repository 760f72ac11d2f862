#include "dcacn/model/heads.h"

#include <torch/nn/functional/normalization.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>

namespace dcacn {
namespace {

torch::nn::Sequential two_layer_mlp(int64_t in, int64_t out) {
  return torch::nn::Sequential(torch::nn::Linear(in, in), torch::nn::ReLU(),
                               torch::nn::Linear(in, out));
}

}  // namespace

InstanceHeadImpl::InstanceHeadImpl(const InstanceHeadOptions& options_) : options(options_) {
  reset();
}

void InstanceHeadImpl::reset() {
  TORCH_CHECK(options.feature_dim() > 0 && options.embedding_dim() > 0,
              "InstanceHead: dimensions must be positive, got ", options.feature_dim(), " and ",
              options.embedding_dim());
  mlp = register_module("mlp", two_layer_mlp(options.feature_dim(), options.embedding_dim()));
}

void InstanceHeadImpl::pretty_print(std::ostream& stream) const {
  stream << "dcacn::InstanceHead(" << options.feature_dim() << " -> " << options.embedding_dim()
         << ", L2-normalised)";
}

torch::Tensor InstanceHeadImpl::forward(const torch::Tensor& features) {
  namespace F = torch::nn::functional;
  return F::normalize(mlp->forward(features), F::NormalizeFuncOptions().dim(1));
}

ClusterHeadImpl::ClusterHeadImpl(const ClusterHeadOptions& options_) : options(options_) {
  reset();
}

void ClusterHeadImpl::reset() {
  TORCH_CHECK(options.clusters() >= 2, "ClusterHead: needs at least 2 clusters, got ",
              options.clusters());
  mlp = register_module("mlp", two_layer_mlp(options.feature_dim(), options.clusters()));
}

void ClusterHeadImpl::pretty_print(std::ostream& stream) const {
  stream << "dcacn::ClusterHead(" << options.feature_dim() << " -> " << options.clusters()
         << ", softmax)";
}

torch::Tensor ClusterHeadImpl::logits(const torch::Tensor& features) {
  return mlp->forward(features);
}

torch::Tensor ClusterHeadImpl::forward(const torch::Tensor& features) {
  return torch::softmax(logits(features), 1);
}

}  // namespace dcacn
