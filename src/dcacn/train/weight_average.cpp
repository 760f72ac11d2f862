#include "dcacn/train/weight_average.h"

#include <algorithm>

#include "dcacn/model/state_dict.h"
#include "dcacn/util/error.h"

namespace dcacn {

WeightAverage::WeightAverage(double max_decay, double window)
    : max_decay_(max_decay), window_(window) {
  DCACN_CHECK(max_decay > 0 && max_decay < 1, "the weight average's decay must be in (0, 1), got ",
              max_decay);
  DCACN_CHECK(window > 0 && window <= 1,
              "the weight average's window must be a share of the steps in (0, 1], got ", window);
}

double WeightAverage::next_decay() const {
  const double u = static_cast<double>(updates_);
  return std::min(max_decay_, (1 + u) / (1 + 1 / window_ + u));
}

void WeightAverage::update(const torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  const auto now = state_dict(module);
  if (average_.empty()) {
    for (const auto& [name, tensor] : now) average_.emplace_back(name, tensor.clone());
    updates_ = 1;
    return;
  }
  DCACN_CHECK(now.size() == average_.size(), "the weight average holds ", average_.size(),
              " tensors, the network ", now.size());
  const double decay = next_decay();
  for (size_t i = 0; i < now.size(); ++i) {
    torch::Tensor& avg = average_[i].second;
    if (avg.is_floating_point()) {
      avg.lerp_(now[i].second, 1.0 - decay);
    } else {
      avg.copy_(now[i].second);
    }
  }
  ++updates_;
}

void WeightAverage::take(torch::nn::Module& module) {
  DCACN_CHECK(started(), "the weight average holds no weights");
  load_state_dict(module, average_, "the weight average");
  average_.clear();
  updates_ = 0;
}

void WeightAverage::save(std::vector<std::pair<std::string, torch::Tensor>>& out,
                         const std::string& prefix) const {
  if (!started()) return;
  out.emplace_back(prefix + "updates", torch::tensor(updates_, torch::kInt64));
  for (const auto& [name, tensor] : average_) {
    out.emplace_back(prefix + "weights/" + name, tensor.to(torch::kCPU).clone());
  }
}

void WeightAverage::restore(const std::vector<std::pair<std::string, torch::Tensor>>& in,
                            const std::string& prefix, torch::Device device) {
  average_.clear();
  updates_ = 0;
  const std::string weights = prefix + "weights/";
  for (const auto& [name, tensor] : in) {
    if (name == prefix + "updates") updates_ = tensor.item<int64_t>();
    if (name.rfind(weights, 0) == 0) {
      average_.emplace_back(name.substr(weights.size()), tensor.to(device));
    }
  }
  if (average_.empty()) updates_ = 0;
}

}  // namespace dcacn
