#include "dcacn/model/pretrained.h"

#include <map>
#include <set>

#include "dcacn/model/state_dict.h"
#include "dcacn/util/error.h"

namespace dcacn {
namespace {

std::string shape_text(const torch::Tensor& t) { return c10::str(t.sizes()); }

// "a, b, c and 4 more".
std::string some(const std::vector<std::string>& names) {
  std::string out;
  const size_t shown = std::min<size_t>(names.size(), 3);
  for (size_t i = 0; i < shown; ++i) out += (i == 0 ? "" : ", ") + names[i];
  if (names.size() > shown) out += c10::str(" and ", names.size() - shown, " more");
  return out;
}

// The depth of a torchvision ResNet from its names: Bottlenecks have conv3; 18 and 34 differ in
// the blocks of layer3 (2 and 6). 0 when the names are not a ResNet's.
int64_t depth_of(const std::map<std::string, torch::Tensor>& file) {
  if (!file.count("layer1.0.conv1.weight")) return 0;
  if (file.count("layer1.0.conv3.weight")) return 50;
  int64_t blocks = 0;
  while (file.count(c10::str("layer3.", blocks, ".conv1.weight"))) ++blocks;
  return blocks <= 2 ? 18 : 34;
}

std::string unprefixed(const std::string& name) {
  return name.rfind("module.", 0) == 0 ? name.substr(7) : name;
}

std::map<std::string, torch::Tensor> by_name(
    const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, tensor] : tensors) out[unprefixed(name)] = tensor;
  return out;
}

}  // namespace

void check_torchvision_resnet(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                              int64_t depth, int64_t width, const std::string& source) {
  const std::map<std::string, torch::Tensor> file = by_name(tensors);
  const int64_t file_depth = depth_of(file);
  DCACN_CHECK(file_depth != 0, source,
              " is not a torchvision ResNet state dict: it has no layer1.0.conv1.weight");
  DCACN_CHECK(file_depth == depth, source, " holds a ResNet-", file_depth,
              ", the network is a ResNet-", depth, " (--arch resnet", file_depth, " takes it)");
  const torch::Tensor& first = file.at("layer1.0.conv1.weight");
  const int64_t file_width = first.size(depth == 50 ? 0 : 1);
  DCACN_CHECK(file_width == width, source, " is for width ", file_width,
              " (its layer1.0.conv1.weight is ", shape_text(first), "), the network's is ", width,
              " (--width ", file_width, " takes it)");
}

std::string PretrainedReport::summary() const {
  std::string out = c10::str("loaded ", loaded.size(), " tensors");
  if (!adapted.empty()) out += c10::str(", adapted ", adapted.size(), " (", some(adapted), ")");
  if (!fresh.empty()) {
    out += c10::str(", ", fresh.size(), " left as initialised (", some(fresh), ")");
  }
  if (!skipped.empty()) out += c10::str(", skipped ", skipped.size(), " (", some(skipped), ")");
  return out;
}

PretrainedReport load_torchvision_resnet(
    ResNetImpl& backbone, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
    const std::string& source) {
  const std::map<std::string, torch::Tensor> file = by_name(tensors);
  check_torchvision_resnet(tensors, backbone.options.depth(), backbone.options.width(), source);

  PretrainedReport report;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // (into, from)
  std::vector<std::string> mismatched;
  std::set<std::string> used;
  for (const auto& [name, into] : state_dict(backbone)) {
    const auto it = file.find(name);
    if (it == file.end()) {
      report.fresh.push_back(name);
      continue;
    }
    used.insert(name);
    torch::Tensor from = it->second;
    bool adapted = false;
    if (name == "conv1.weight" && from.sizes() != into.sizes()) {
      if (from.dim() != 4 || into.dim() != 4 || from.size(2) != into.size(2) ||
          from.size(3) != into.size(3)) {
        report.fresh.push_back(c10::str(name, " (the file's stem is ", from.size(2), "x",
                                        from.size(3), ", the network's ", into.size(2), "x",
                                        into.size(3), ")"));
        continue;
      }
      if (into.size(1) == 1 && from.size(1) == 3) {
        from = from.sum(1, /*keepdim=*/true);
        adapted = true;
      }
    }
    if (from.sizes() != into.sizes()) {
      mismatched.push_back(
          c10::str(name, " (file ", shape_text(from), ", network ", shape_text(into), ")"));
      continue;
    }
    if (adapted) {
      report.adapted.push_back("conv1.weight: RGB summed for 1 channel");
    } else {
      report.loaded.push_back(name);
    }
    copies.emplace_back(into, from);
  }
  DCACN_CHECK(mismatched.empty(), source, " does not fit the network: ", mismatched.size(),
              " tensors of another shape: ", some(mismatched));
  for (const auto& [name, tensor] : tensors) {
    if (!used.count(unprefixed(name))) report.skipped.push_back(unprefixed(name));
  }
  torch::NoGradGuard no_grad;
  for (auto& [into, from] : copies) into.copy_(from.to(into.device(), into.scalar_type()));
  return report;
}

}  // namespace dcacn
