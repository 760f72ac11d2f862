#include "dcacn/model/dcacn_model.h"

#include "dcacn/util/error.h"

namespace dcacn {

Stem DCACNOptions::resolved_stem() const {
  return stem() == "auto" ? stem_for_image_size(image_size()) : parse_stem(stem());
}

DCACNImpl::DCACNImpl(const DCACNOptions& options_) : options(options_) { reset(); }

void DCACNImpl::reset() {
  backbone = register_module("backbone", ResNet(ResNetOptions(options.depth())
                                                    .in_channels(options.in_channels())
                                                    .width(options.width())
                                                    .stem(options.resolved_stem())
                                                    .attention(options.attention())
                                                    .reduction(options.reduction())
                                                    .min_hidden(options.min_hidden())));
  const int64_t d = backbone->feature_dim();
  instance_head = register_module(
      "instance_head", InstanceHead(InstanceHeadOptions(d).embedding_dim(options.embedding_dim())));
  cluster_head =
      register_module("cluster_head", ClusterHead(ClusterHeadOptions(d, options.clusters())));
}

void DCACNImpl::pretty_print(std::ostream& stream) const {
  stream << "dcacn::DCACN(resnet" << options.depth() << ", width=" << options.width()
         << ", attention=" << attention_name(options.attention())
         << ", stem=" << stem_name(options.resolved_stem()) << ", clusters=" << options.clusters()
         << ")";
}

DCACNOutput DCACNImpl::forward(const torch::Tensor& images) {
  DCACNOutput out;
  out.features = backbone->forward(images);
  out.embedding = instance_head->forward(out.features);
  out.probabilities = cluster_head->forward(out.features);
  return out;
}

torch::Tensor DCACNImpl::predict(const torch::Tensor& images) {
  return cluster_head->logits(backbone->forward(images)).argmax(1);
}

void DCACNImpl::replace_cluster_head(ClusterHead head) {
  TORCH_CHECK(head->options.feature_dim() == cluster_head->options.feature_dim(),
              "replace_cluster_head: the head takes ", head->options.feature_dim(),
              " features, the backbone gives ", cluster_head->options.feature_dim());
  cluster_head = replace_module("cluster_head", head);
  options.clusters(head->options.clusters());
}

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t total = 0;
  for (const auto& p : module.parameters()) total += p.numel();
  return total;
}

ParameterCounts count_parameters(DCACNImpl& model) {
  ParameterCounts counts;
  for (const auto& item : model.backbone->named_parameters()) {
    const bool attention = item.key().find(".cbam.") != std::string::npos;
    (attention ? counts.attention : counts.backbone_without_attention) += item.value().numel();
  }
  counts.instance_head = parameter_count(*model.instance_head);
  counts.cluster_head = parameter_count(*model.cluster_head);
  return counts;
}

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

int64_t forward_flops(const DCACNImpl& model, int64_t image_size) {
  const int64_t d = model.backbone->feature_dim();
  const int64_t heads =
      2 * (d * d + d * model.options.embedding_dim()) + 2 * (d * d + d * model.options.clusters());
  return model.backbone->flops(image_size, image_size) + heads;
}

}  // namespace dcacn
