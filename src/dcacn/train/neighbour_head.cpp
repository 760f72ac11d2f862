#include "dcacn/train/neighbour_head.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>
#include <torch/utils.h>

#include <cmath>

namespace dcacn {
namespace {

// PyTorch's default initialisation of a Linear layer (weights and biases uniform in
// +-1/sqrt(fan_in)), drawn from `gen` so that the heads depend on the stage's seed alone.
void initialise(ClusterHead& head, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  for (auto& module : head->mlp->children()) {
    auto* linear = module->as<torch::nn::Linear>();
    if (linear == nullptr) continue;
    const double bound = 1.0 / std::sqrt(static_cast<double>(linear->options.in_features()));
    linear->weight.uniform_(-bound, bound, gen);
    if (linear->bias.defined()) linear->bias.uniform_(-bound, bound, gen);
  }
}

}  // namespace

NeighbourLoss neighbour_loss(const torch::Tensor& anchors, const torch::Tensor& neighbours,
                             double entropy_weight) {
  TORCH_CHECK(anchors.dim() == 2 && anchors.sizes() == neighbours.sizes(),
              "neighbour_loss: expected two [B, K] matrices of the same shape, got ",
              anchors.sizes(), " and ", neighbours.sizes());
  const torch::Tensor consistency = -(anchors * neighbours).sum(1).clamp_min(1e-7).log().mean();
  const torch::Tensor m = anchors.mean(0);
  const torch::Tensor entropy = -(m * m.clamp_min(1e-8).log()).sum();
  return {consistency - entropy_weight * entropy, consistency, entropy};
}

namespace {

// The loss of a head over all rows and all their neighbours: neighbour_loss over every (row,
// neighbour) pair, each row repeated once per neighbour (which leaves the mean assignment as it
// is).
NeighbourLoss full_loss(ClusterHead& head, const torch::Tensor& features,
                        const torch::Tensor& neighbours, double entropy_weight) {
  torch::NoGradGuard no_grad;
  const torch::Tensor p = head->forward(features).to(torch::kFloat64);
  return neighbour_loss(p.repeat_interleave(neighbours.size(1), 0),
                        p.index_select(0, neighbours.reshape(-1)), entropy_weight);
}

}  // namespace

NeighbourHeadResult train_neighbour_heads(const torch::Tensor& features,
                                          const torch::Tensor& neighbours,
                                          const ClusterHeadOptions& head_options,
                                          const NeighbourHeadOptions& options,
                                          const NeighbourHeadProgress& progress) {
  TORCH_CHECK(features.dim() == 2 && features.size(1) == head_options.feature_dim(),
              "train_neighbour_heads: expected [N, ", head_options.feature_dim(),
              "] features, got ", features.sizes());
  TORCH_CHECK(
      neighbours.dim() == 2 && neighbours.size(0) == features.size(0) && neighbours.size(1) >= 1,
      "train_neighbour_heads: expected [", features.size(0), ", k] neighbours, got ",
      neighbours.sizes());
  TORCH_CHECK(options.heads() >= 1 && options.epochs() >= 0 && options.batch_size() >= 1,
              "train_neighbour_heads: heads and batch size must be positive, epochs not negative");
  const torch::Device device = features.device();
  const torch::Tensor x = features.detach().to(torch::kFloat32);
  const torch::Tensor nb = neighbours.to(device, torch::kInt64);
  const int64_t n = x.size(0), k = nb.size(1), b = std::min(options.batch_size(), n);

  at::Generator gen = at::detail::createCPUGenerator(options.seed() * 2654435761ULL + 17);
  std::vector<ClusterHead> heads;
  std::vector<torch::Tensor> params;
  for (int64_t h = 0; h < options.heads(); ++h) {
    ClusterHead head(head_options);
    initialise(head, gen);
    head->to(device);
    head->train();
    for (auto& p : head->parameters()) params.push_back(p);
    heads.push_back(head);
  }
  torch::optim::Adam adam(params, torch::optim::AdamOptions(options.lr()));
  torch::AutoGradMode grad(true);  // also when the caller is under a no-grad guard
  const auto cpu_long = torch::TensorOptions().dtype(torch::kInt64);
  for (int64_t epoch = 0; epoch < options.epochs(); ++epoch) {
    const torch::Tensor order = torch::randperm(n, gen, cpu_long).to(device);
    const torch::Tensor pick = torch::randint(k, {n}, gen, cpu_long).to(device);
    for (int64_t start = 0; start + b <= n; start += b) {
      const torch::Tensor anchors = order.slice(0, start, start + b);
      const torch::Tensor partners =
          nb.index_select(0, anchors).gather(1, pick.slice(0, start, start + b).unsqueeze(1));
      const torch::Tensor both =
          torch::cat({x.index_select(0, anchors), x.index_select(0, partners.squeeze(1))});
      torch::Tensor loss = torch::zeros({}, x.options());
      for (auto& head : heads) {
        const torch::Tensor p = head->forward(both);
        loss =
            loss + neighbour_loss(p.slice(0, 0, b), p.slice(0, b), options.entropy_weight()).total;
      }
      adam.zero_grad();
      loss.backward();
      adam.step();
    }
    if (progress) progress(epoch + 1, options.epochs());
  }

  NeighbourHeadResult result;
  for (int64_t h = 0; h < options.heads(); ++h) {
    heads[h]->eval();
    const NeighbourLoss l = full_loss(heads[h], x, nb, options.entropy_weight());
    result.total.push_back(l.total.item<double>());
    result.consistency.push_back(l.consistency.item<double>());
    result.entropy.push_back(l.entropy.item<double>());
    if (result.total[h] < result.total[result.chosen]) result.chosen = h;
  }
  result.head = heads[result.chosen];
  return result;
}

}  // namespace dcacn
