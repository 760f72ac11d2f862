#include "dcacn/train/pipeline.h"

#include <c10/util/StringUtil.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

#include "dcacn/train/contrastive_stage.h"
#include "dcacn/train/neighbour_stage.h"
#include "dcacn/train/scan_stage.h"
#include "dcacn/train/selflabel_stage.h"
#include "dcacn/util/error.h"

namespace dcacn {
namespace {

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::istringstream in(text);
  std::string part;
  while (std::getline(in, part, separator)) parts.push_back(part);
  if (!text.empty() && text.back() == separator) parts.emplace_back();
  return parts;
}

// "kind:key=value:...": the kind and its settings, in the order given.
std::pair<std::string, StageSettings> parse_entry(const std::string& entry) {
  const std::vector<std::string> parts = split(entry, ':');
  DCACN_CHECK(!parts.empty() && !parts[0].empty(), "--stages: an empty stage in '", entry,
              "' (stages are separated by single commas)");
  StageSettings settings(parts[0]);
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& item = parts[i];
    const size_t eq = item.find('=');
    if (eq == std::string::npos && item.size() > 1 && item.back() == 'm') {
      settings.set("minutes", item.substr(0, item.size() - 1));  // "27m"
      continue;
    }
    DCACN_CHECK(eq != std::string::npos && eq > 0, "--stages: '", item, "' in stage '", entry,
                "' is not key=value (or Nm for minutes)");
    settings.set(item.substr(0, eq), item.substr(eq + 1));
  }
  return {parts[0], std::move(settings)};
}

std::unique_ptr<Stage> make_stage(const std::string& kind, StageSettings& s, const TrainConfig& c) {
  if (kind == "contrastive") return std::make_unique<ContrastiveStage>(contrastive_options(s, c));
  if (kind == "selflabel") return std::make_unique<SelfLabelStage>(self_label_stage_options(s, c));
  if (kind == "neighbours") return std::make_unique<NeighbourStage>(neighbour_stage_options(s, c));
  if (kind == "scan") return std::make_unique<ScanStage>(scan_stage_options(s, c));
  throw InputError("--stages: unknown stage '" + kind +
                   "': expected contrastive, selflabel, neighbours or scan");
}

}  // namespace

std::string exact_number(double value) {
  char buffer[40];
  for (int digits = 6; digits <= 17; ++digits) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", digits, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}

Pipeline build_pipeline(const TrainConfig& config) {
  const std::string text = config.stages.empty() ? legacy_pipeline_text(config) : config.stages;
  Pipeline pipeline;
  // With --stages, --time-budget is the whole run's, and shares are fractions of it.
  const double run_minutes = config.stages.empty() ? 0.0 : config.time_budget_minutes;
  for (const std::string& entry : split(text, ',')) {
    auto [kind, settings] = parse_entry(entry);
    settings.set_run_minutes(run_minutes);
    pipeline.push_back(make_stage(kind, settings, config));
    const Stage& stage = *pipeline.back();
    DCACN_CHECK(!stage.stepwise() || !stage.budget().unlimited(), "--stages: stage ",
                pipeline.size(), " (", kind,
                ") needs a budget: minutes=M (or Mm), share=F (of --time-budget), steps=S or "
                "epochs=E");
  }
  DCACN_CHECK(!pipeline.empty(), "--stages: no stage given");
  const bool neighbours = std::any_of(pipeline.begin(), pipeline.end(), [](const auto& stage) {
    return stage->kind() == StageKind::kNeighbours;
  });
  DCACN_CHECK(config.k_range.empty() || neighbours, "--k-range ", config.k_range,
              ": the number of clusters is estimated when a neighbours stage begins, and the "
              "pipeline ",
              text, " has none");
  return pipeline;
}

std::string pipeline_text(const Pipeline& pipeline) {
  std::string s;
  for (const auto& stage : pipeline) s += (s.empty() ? "" : ",") + stage->describe();
  return s;
}

std::string stage_settings(const Stage& stage) {
  const std::string full = stage.describe();
  const std::string budget = budget_text(stage.budget());
  const size_t at = budget.empty() ? std::string::npos : full.find(budget);
  return at == std::string::npos ? full : full.substr(0, at) + full.substr(at + budget.size());
}

std::string legacy_pipeline_text(const TrainConfig& c) {
  StageBudget contrastive;
  contrastive.minutes(c.time_budget_minutes).steps(c.max_steps).epochs(c.epochs);
  std::string text = "contrastive" + budget_text(contrastive);
  if (c.has_selflabel_stage()) {
    StageBudget selflabel;
    selflabel.minutes(c.selflabel_minutes).steps(c.selflabel_steps);
    text += ",selflabel" + budget_text(selflabel);
  }
  if (c.has_neighbour_stage()) text += ",neighbours";
  return text;
}

}  // namespace dcacn
