#include "dcacn/train/train_step.h"

#include <torch/optim/adam.h>

#include <map>

#include "dcacn/train/neighbour_head.h"
#include "dcacn/util/autocast.h"

namespace dcacn {

TrainStep::TrainStep(DCACN model, torch::optim::Optimizer& optimizer, TrainStepOptions options)
    : model_(std::move(model)), optimizer_(optimizer), options_(std::move(options)) {}

TrainStep::ViewOutputs TrainStep::forward_views(const std::vector<torch::Tensor>& v) {
  // Views of one size go through the network together.
  std::map<int64_t, std::vector<int64_t>> by_size;
  for (int64_t i = 0; i < static_cast<int64_t>(v.size()); ++i) by_size[v[i].size(2)].push_back(i);
  std::vector<torch::Tensor> h(v.size()), p(v.size());
  {
    const torch::Device device = v.front().device();
    AutocastGuard autocast(options_.bf16, device);
    for (const auto& [size, members] : by_size) {
      std::vector<torch::Tensor> group;
      for (int64_t i : members) group.push_back(v[i]);
      torch::Tensor x = torch::cat(group, 0);
      if (options_.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
      const DCACNOutput out = model_->forward(x);
      const auto hs = out.embedding.split(options_.batch_size, 0);
      const auto ps = out.probabilities.split(options_.batch_size, 0);
      for (size_t j = 0; j < members.size(); ++j) {
        h[members[j]] = hs[j];
        p[members[j]] = ps[j];
      }
    }
  }
  return {std::move(h), std::move(p)};
}

void TrainStep::gather(ViewOutputs& out) {
  if (options_.comm == nullptr) return;
  for (auto* list : {&out.embeddings, &out.probabilities}) {
    for (auto& t : *list) {
      // bf16 outputs of autocast travel as float32, like the losses compute them.
      if (t.scalar_type() != torch::kFloat64) t = t.to(torch::kFloat32);
      t = all_gather_with_grad(t, *options_.comm);
    }
  }
}

LossTerms TrainStep::losses(const std::vector<torch::Tensor>& v) {
  ViewOutputs out = forward_views(v);
  gather(out);
  return multicrop_loss(out.embeddings, out.probabilities, options_.global_views, options_.losses);
}

LossTerms TrainStep::self_label_losses(const std::vector<torch::Tensor>& v,
                                       const torch::Tensor& labels,
                                       const SelfLabelOptions& options) {
  ViewOutputs out = forward_views(v);
  gather(out);
  return self_label_loss(out.embeddings, out.probabilities, options_.global_views, labels,
                         options_.losses, options);
}

LossTerms TrainStep::neighbour_losses(const torch::Tensor& anchors, const torch::Tensor& neighbours,
                                      double entropy_weight) {
  ViewOutputs out = forward_views({anchors, neighbours});
  gather(out);
  const NeighbourLoss l = neighbour_loss(out.probabilities[0].to(torch::kFloat32),
                                         out.probabilities[1].to(torch::kFloat32), entropy_weight);
  return {l.total, torch::zeros({}, l.total.options()), l.consistency.detach(), l.entropy.detach()};
}

torch::Tensor TrainStep::predict(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  model_->eval();
  torch::Tensor p;
  {
    AutocastGuard autocast(options_.bf16, images.device());
    torch::Tensor x = images;
    if (options_.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    p = model_->forward(x).probabilities.to(torch::kFloat32);
  }
  model_->train();
  return p;
}

void TrainStep::backward(const LossTerms& losses) {
  // Gradients start undefined at every step (not zeroed): a parameter the step's loss does not
  // reach (the instance head in the scan stage) gets none, so that Adam leaves it and its state
  // alone, in a run resumed from a checkpoint (which keeps no gradients) as in one that was not.
  for (auto& p : model_->parameters()) {
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
  }
  losses.total.backward();
  if (options_.comm == nullptr) return;
  std::vector<torch::Tensor> grads;
  std::vector<torch::Tensor> unreached;
  for (auto& p : model_->parameters()) {
    if (!p.requires_grad()) continue;
    // Every rank must send the same buckets: a parameter without a gradient sends zeros, and
    // has none again after the reduction (as in one process).
    if (!p.grad().defined()) {
      p.mutable_grad() = torch::zeros_like(p);
      unreached.push_back(p);
    }
    grads.push_back(p.grad());
  }
  options_.comm->all_reduce_mean(grads);
  for (auto& p : unreached) p.mutable_grad() = torch::Tensor();
}

void TrainStep::apply(const LossTerms& losses, double lr) {
  set_learning_rate(optimizer_, lr);
  backward(losses);
  optimizer_.step();
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
  }
}

}  // namespace dcacn
