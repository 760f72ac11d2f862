#include "dcacn/data/dataset.h"

#include "dcacn/util/error.h"

namespace dcacn {

Split parse_split(const std::string& text) {
  if (text == "train") return Split::kTrain;
  if (text == "test") return Split::kTest;
  if (text == "all") return Split::kAll;
  if (text == "unlabeled" || text == "unlabelled") return Split::kUnlabeled;
  throw InputError("unknown split '" + text + "': expected train, test, all or unlabeled");
}

std::string split_name(Split split) {
  switch (split) {
    case Split::kTrain:
      return "train";
    case Split::kTest:
      return "test";
    case Split::kAll:
      return "all";
    case Split::kUnlabeled:
      return "unlabeled";
  }
  return "?";
}

int64_t Dataset::num_classes() const {
  if (!class_names.empty()) return static_cast<int64_t>(class_names.size());
  if (has_labels() && labels.numel() > 0) return labels.max().item<int64_t>() + 1;
  return 0;
}

Dataset concat(const std::vector<Dataset>& parts, const std::string& name) {
  TORCH_CHECK(!parts.empty(), "concat: no datasets given");
  if (parts.size() == 1) {
    Dataset out = parts.front();
    out.name = name;
    return out;
  }
  std::vector<torch::Tensor> images, labels;
  bool all_labelled = true;
  Dataset out;
  out.name = name;
  out.class_names = parts.front().class_names;
  for (const auto& part : parts) {
    TORCH_CHECK(part.images.sizes().slice(1) == parts.front().images.sizes().slice(1),
                "concat: image shapes differ: ", part.images.sizes(), " vs ",
                parts.front().images.sizes());
    images.push_back(part.images);
    all_labelled = all_labelled && part.has_labels();
    if (part.has_labels()) labels.push_back(part.labels);
    out.paths.insert(out.paths.end(), part.paths.begin(), part.paths.end());
  }
  out.images = torch::cat(images, 0);
  if (all_labelled) out.labels = torch::cat(labels, 0);
  return out;
}

torch::Tensor flatten_to_unit_float(const torch::Tensor& images) {
  TORCH_CHECK(images.dim() == 4 && images.scalar_type() == torch::kUInt8,
              "expected [N, C, H, W] uint8 images, got ", images.sizes(), " ",
              images.scalar_type());
  return images.reshape({images.size(0), -1}).to(torch::kFloat32).div_(255.0f);
}

}  // namespace dcacn
