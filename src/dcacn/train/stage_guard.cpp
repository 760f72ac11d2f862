#include "dcacn/train/stage_guard.h"

#include <algorithm>

#include "dcacn/model/state_dict.h"
#include "dcacn/train/neighbour_mining.h"
#include "dcacn/util/error.h"
#include "dcacn/util/log.h"
#include "dcacn/util/progress.h"

namespace dcacn {
namespace {

constexpr const char* kPrefix = "guard/";

}  // namespace

void StageGuard::begin(StageContext& context, const torch::Tensor& graph, const std::string& who) {
  graph_ = graph.to(torch::kCPU, torch::kInt64);
  start_fit_ = neighbour_fit(context.probabilities().argmax(1), graph_);
  start_model_.clear();
  for (const auto& [name, tensor] : state_dict(*context.model())) {
    start_model_.emplace_back(name, tensor.to(torch::kCPU).clone());
  }
  log_info(c10::str(who, ": guard: neighbours share their image's cluster ", fixed(start_fit_, 4),
                    " above chance at the start"));
}

void StageGuard::save(StageState& state) const {
  state.emplace_back(std::string(kPrefix) + "graph", graph_);
  state.emplace_back(std::string(kPrefix) + "start_fit",
                     torch::tensor(start_fit_, torch::kFloat64));
  for (const auto& [name, tensor] : start_model_) {
    state.emplace_back(std::string(kPrefix) + "model/" + name, tensor);
  }
}

void StageGuard::restore(const StageState& state, const std::string& source) {
  const std::string model_prefix = std::string(kPrefix) + "model/";
  start_model_.clear();
  for (const auto& [name, tensor] : state) {
    if (name == std::string(kPrefix) + "graph") graph_ = tensor.to(torch::kInt64);
    if (name == std::string(kPrefix) + "start_fit") start_fit_ = tensor.item<double>();
    if (name.rfind(model_prefix, 0) == 0) {
      start_model_.emplace_back(name.substr(model_prefix.size()), tensor);
    }
  }
  const bool has_fit = std::any_of(state.begin(), state.end(), [](const auto& entry) {
    return entry.first == std::string(kPrefix) + "start_fit";
  });
  if (!graph_.defined() && !has_fit && start_model_.empty()) {
    log_warning(source + " holds no guard state (written before guards): the stage ends unguarded");
    return;
  }
  // The fit may be negative (clusters that fit the graph worse than chance): only presence counts.
  DCACN_CHECK(graph_.defined() && has_fit && !start_model_.empty(), source,
              " holds an incomplete guard state");
}

bool StageGuard::end(StageContext& context, const std::string& who) {
  if (!graph_.defined()) return false;  // resumed from a checkpoint without a guard state
  const double now = neighbour_fit(context.probabilities().argmax(1), graph_);
  if (now >= start_fit_) {
    log_info(c10::str(who, ": guard: neighbours share their image's cluster ", fixed(now, 4),
                      " above chance, against ", fixed(start_fit_, 4), " at the start: kept"));
    return false;
  }
  load_state_dict(*context.model(), start_model_, "the stage's start");
  log_warning(c10::str(who, ": guard: the stage lowered the share of neighbours in their ",
                       "image's cluster (above chance) from ", fixed(start_fit_, 4), " to ",
                       fixed(now, 4), "; the network it started from is put back"));
  return true;
}

}  // namespace dcacn
