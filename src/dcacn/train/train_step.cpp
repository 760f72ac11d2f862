#include "dcacn/train/train_step.h"

#include <torch/optim/adam.h>

#include <map>

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

LossTerms TrainStep::losses(const std::vector<torch::Tensor>& v) {
  const ViewOutputs out = forward_views(v);
  return multicrop_loss(out.embeddings, out.probabilities, options_.global_views, options_.losses);
}

LossTerms TrainStep::self_label_losses(const std::vector<torch::Tensor>& v,
                                       const torch::Tensor& labels,
                                       const SelfLabelOptions& options) {
  const ViewOutputs out = forward_views(v);
  return self_label_loss(out.embeddings, out.probabilities, options_.global_views, labels,
                         options_.losses, options);
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

void TrainStep::apply(const LossTerms& losses, double lr) {
  set_learning_rate(optimizer_, lr);
  optimizer_.zero_grad();
  losses.total.backward();
  optimizer_.step();
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
  }
}

}  // namespace dcacn
