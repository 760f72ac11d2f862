#include "dcacn/model/resnet.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/init.h>

#include "dcacn/util/error.h"

namespace dcacn {
namespace {

namespace nn = torch::nn;

nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return nn::Conv2d(
      nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
}

// FLOPs of a k x k convolution producing an out_h x out_w map.
int64_t conv_flops(int64_t in, int64_t out, int64_t k, int64_t out_h, int64_t out_w) {
  return 2 * in * out * k * k * out_h * out_w;
}

int64_t strided(int64_t size, int64_t stride) { return (size + stride - 1) / stride; }

// Projection shortcut when the block changes resolution or width (torchvision's layout:
// downsample.0 = 1x1 conv, downsample.1 = BN).
nn::Sequential make_downsample(int64_t in, int64_t out, int64_t stride) {
  if (stride == 1 && in == out) return nullptr;
  return nn::Sequential(conv(in, out, 1, stride), nn::BatchNorm2d(out));
}

CBAM make_cbam(const ResidualBlockOptions& o, int64_t channels) {
  if (o.attention() != Attention::kCBAM) return nullptr;
  return CBAM(CBAMOptions(channels).reduction(o.reduction()).min_hidden(o.min_hidden()));
}

}  // namespace

Attention parse_attention(const std::string& text) {
  if (text == "cbam") return Attention::kCBAM;
  if (text == "none") return Attention::kNone;
  throw InputError("unknown attention '" + text + "': expected cbam or none");
}

std::string attention_name(Attention attention) {
  return attention == Attention::kCBAM ? "cbam" : "none";
}

Stem parse_stem(const std::string& text) {
  if (text == "cifar") return Stem::kCifar;
  if (text == "imagenet") return Stem::kImagenet;
  throw InputError("unknown stem '" + text + "': expected auto, cifar or imagenet");
}

std::string stem_name(Stem stem) { return stem == Stem::kCifar ? "cifar" : "imagenet"; }

Stem stem_for_image_size(int64_t image_size) {
  return image_size <= 64 ? Stem::kCifar : Stem::kImagenet;
}

// ---------------------------------------------------------------------------------------------

BasicBlockImpl::BasicBlockImpl(const ResidualBlockOptions& options_) : options(options_) {
  reset();
}

void BasicBlockImpl::reset() {
  const int64_t in = options.in_channels(), planes = options.planes();
  conv1 = register_module("conv1", conv(in, planes, 3, options.stride()));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  if (auto gate = make_cbam(options, planes)) cbam = register_module("cbam", gate);
  if (auto down = make_downsample(in, planes, options.stride())) {
    downsample = register_module("downsample", down);
  }
}

void BasicBlockImpl::pretty_print(std::ostream& stream) const {
  stream << "dcacn::BasicBlock(" << options.in_channels() << " -> " << options.planes()
         << ", stride=" << options.stride() << ", attention=" << attention_name(options.attention())
         << ")";
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = torch::relu(bn1->forward(conv1->forward(x)));
  out = bn2->forward(conv2->forward(out));
  if (cbam) out = cbam->forward(out);
  out = out + (downsample ? downsample->forward(x) : x);
  return torch::relu(out);
}

int64_t BasicBlockImpl::flops(int64_t h, int64_t w) const {
  const int64_t oh = strided(h, options.stride()), ow = strided(w, options.stride());
  const int64_t in = options.in_channels(), planes = options.planes();
  int64_t total = conv_flops(in, planes, 3, oh, ow) + conv_flops(planes, planes, 3, oh, ow);
  if (downsample) total += conv_flops(in, planes, 1, oh, ow);
  if (cbam) total += cbam->flops(oh, ow);
  return total;
}

// ---------------------------------------------------------------------------------------------

BottleneckImpl::BottleneckImpl(const ResidualBlockOptions& options_) : options(options_) {
  reset();
}

void BottleneckImpl::reset() {
  const int64_t in = options.in_channels(), planes = options.planes();
  const int64_t out = planes * kExpansion;
  conv1 = register_module("conv1", conv(in, planes, 1, 1));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, options.stride()));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  conv3 = register_module("conv3", conv(planes, out, 1, 1));
  bn3 = register_module("bn3", nn::BatchNorm2d(out));
  if (auto gate = make_cbam(options, out)) cbam = register_module("cbam", gate);
  if (auto down = make_downsample(in, out, options.stride())) {
    downsample = register_module("downsample", down);
  }
}

void BottleneckImpl::pretty_print(std::ostream& stream) const {
  stream << "dcacn::Bottleneck(" << options.in_channels() << " -> " << options.planes() * kExpansion
         << ", stride=" << options.stride() << ", attention=" << attention_name(options.attention())
         << ")";
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = torch::relu(bn1->forward(conv1->forward(x)));
  out = torch::relu(bn2->forward(conv2->forward(out)));
  out = bn3->forward(conv3->forward(out));
  if (cbam) out = cbam->forward(out);
  out = out + (downsample ? downsample->forward(x) : x);
  return torch::relu(out);
}

int64_t BottleneckImpl::flops(int64_t h, int64_t w) const {
  const int64_t oh = strided(h, options.stride()), ow = strided(w, options.stride());
  const int64_t in = options.in_channels(), planes = options.planes();
  const int64_t out = planes * kExpansion;
  int64_t total = conv_flops(in, planes, 1, h, w) + conv_flops(planes, planes, 3, oh, ow) +
                  conv_flops(planes, out, 1, oh, ow);
  if (downsample) total += conv_flops(in, out, 1, oh, ow);
  if (cbam) total += cbam->flops(oh, ow);
  return total;
}

// ---------------------------------------------------------------------------------------------

ResNetImpl::ResNetImpl(const ResNetOptions& options_) : options(options_) { reset(); }

void ResNetImpl::reset() {
  const int64_t depth = options.depth();
  TORCH_CHECK(depth == 18 || depth == 34 || depth == 50, "ResNet depth must be 18, 34 or 50, got ",
              depth);
  TORCH_CHECK(options.width() >= 1, "ResNet width must be positive, got ", options.width());
  TORCH_CHECK(options.in_channels() >= 1, "ResNet input channels must be positive, got ",
              options.in_channels());
  const int64_t w = options.width();
  if (options.stem() == Stem::kImagenet) {
    conv1 = register_module("conv1", conv(options.in_channels(), w, 7, 2));
    maxpool =
        register_module("maxpool", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
  } else {
    conv1 = register_module("conv1", conv(options.in_channels(), w, 3, 1));
  }
  bn1 = register_module("bn1", nn::BatchNorm2d(w));
  const std::vector<int64_t> blocks =
      depth == 18 ? std::vector<int64_t>{2, 2, 2, 2} : std::vector<int64_t>{3, 4, 6, 3};
  int64_t in = w;
  layer1 = register_module("layer1", make_stage(in, w, blocks[0], 1));
  layer2 = register_module("layer2", make_stage(in, 2 * w, blocks[1], 2));
  layer3 = register_module("layer3", make_stage(in, 4 * w, blocks[2], 2));
  layer4 = register_module("layer4", make_stage(in, 8 * w, blocks[3], 2));
  initialize();
}

nn::Sequential ResNetImpl::make_stage(int64_t& in_channels, int64_t planes, int64_t blocks,
                                      int64_t stride) {
  nn::Sequential stage;
  for (int64_t b = 0; b < blocks; ++b) {
    auto block_options = ResidualBlockOptions(in_channels, planes)
                             .stride(b == 0 ? stride : 1)
                             .attention(options.attention())
                             .reduction(options.reduction())
                             .min_hidden(options.min_hidden());
    if (options.depth() == 50) {
      stage->push_back(Bottleneck(block_options));
      in_channels = planes * BottleneckImpl::kExpansion;
    } else {
      stage->push_back(BasicBlock(block_options));
      in_channels = planes * BasicBlockImpl::kExpansion;
    }
  }
  return stage;
}

// The official CBAM initialisation: convolutions kaiming-normal (fan_out, ReLU), BatchNorm
// weight 1 and bias 0, except the spatial gates' BatchNorm weight 0 so that every spatial
// mask starts at sigmoid(0) = 0.5. Linear layers keep LibTorch's (= PyTorch's) default.
void ResNetImpl::initialize() {
  torch::NoGradGuard no_grad;
  for (const auto& item : named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    if (auto* c = item.value()->as<nn::Conv2dImpl>()) {
      nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = item.value()->as<nn::BatchNorm2dImpl>()) {
      const bool spatial = item.key().find("spatial_gate") != std::string::npos;
      bn->weight.fill_(spatial ? 0.0 : 1.0);
      bn->bias.zero_();
    }
  }
}

void ResNetImpl::pretty_print(std::ostream& stream) const {
  stream << "dcacn::ResNet(depth=" << options.depth() << ", width=" << options.width()
         << ", in_channels=" << options.in_channels() << ", stem=" << stem_name(options.stem())
         << ", attention=" << attention_name(options.attention()) << ")";
}

torch::Tensor ResNetImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == options.in_channels(), "ResNet: expected [N, ",
              options.in_channels(), ", H, W] input, got ", x.sizes());
  torch::Tensor out = torch::relu(bn1->forward(conv1->forward(x)));
  if (maxpool) out = maxpool->forward(out);
  out = layer4->forward(layer3->forward(layer2->forward(layer1->forward(out))));
  return out.mean({2, 3});
}

int64_t backbone_feature_dim(int64_t depth, int64_t width) {
  return 8 * width * (depth == 50 ? BottleneckImpl::kExpansion : BasicBlockImpl::kExpansion);
}

int64_t ResNetImpl::feature_dim() const {
  return backbone_feature_dim(options.depth(), options.width());
}

std::vector<StageSummary> ResNetImpl::summarize(int64_t h, int64_t w) const {
  auto count = [](const torch::nn::Module& m, bool attention_only) {
    int64_t total = 0;
    for (const auto& item : m.named_parameters()) {
      if (!attention_only || item.key().find("cbam.") != std::string::npos) {
        total += item.value().numel();
      }
    }
    return total;
  };
  std::vector<StageSummary> out;
  StageSummary stem;
  stem.name = "stem";
  stem.out_channels = options.width();
  if (options.stem() == Stem::kImagenet) {
    h = strided(h, 2);
    w = strided(w, 2);
    stem.flops = conv_flops(options.in_channels(), options.width(), 7, h, w);
    h = strided(h, 2);  // max-pool
    w = strided(w, 2);
  } else {
    stem.flops = conv_flops(options.in_channels(), options.width(), 3, h, w);
  }
  stem.out_h = h;
  stem.out_w = w;
  stem.parameters = count(*conv1, false) + count(*bn1, false);
  out.push_back(stem);
  const std::vector<std::pair<std::string, nn::Sequential>> stages = {
      {"layer1", layer1}, {"layer2", layer2}, {"layer3", layer3}, {"layer4", layer4}};
  for (const auto& [name, stage] : stages) {
    StageSummary s;
    s.name = name;
    s.parameters = count(*stage, false);
    s.attention_parameters = count(*stage, true);
    for (const auto& child : stage->children()) {
      int64_t stride = 1;
      if (auto* basic = child->as<BasicBlockImpl>()) {
        s.flops += basic->flops(h, w);
        stride = basic->options.stride();
        s.out_channels = basic->options.planes() * BasicBlockImpl::kExpansion;
      } else if (auto* bottleneck = child->as<BottleneckImpl>()) {
        s.flops += bottleneck->flops(h, w);
        stride = bottleneck->options.stride();
        s.out_channels = bottleneck->options.planes() * BottleneckImpl::kExpansion;
      }
      h = strided(h, stride);
      w = strided(w, stride);
      ++s.blocks;
    }
    s.out_h = h;
    s.out_w = w;
    out.push_back(s);
  }
  return out;
}

int64_t ResNetImpl::flops(int64_t h, int64_t w) const {
  int64_t total = 0;
  for (const auto& s : summarize(h, w)) total += s.flops;
  return total;
}

}  // namespace dcacn
