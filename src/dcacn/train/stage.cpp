#include "dcacn/train/stage.h"

#include <c10/util/StringUtil.h>

#include <algorithm>
#include <cstdlib>

#include "dcacn/train/pipeline.h"
#include "dcacn/util/error.h"

namespace dcacn {

std::string stage_kind_name(StageKind kind) {
  switch (kind) {
    case StageKind::kContrastive:
      return "contrastive";
    case StageKind::kSelfLabel:
      return "selflabel";
    case StageKind::kNeighbours:
      return "neighbours";
    case StageKind::kScan:
      return "scan";
  }
  return "?";
}

double StageBudget::limit_minutes() const {
  double limit = minutes();
  if (share() > 0 && run_minutes() > 0) {
    const double part = share() * run_minutes();
    limit = limit > 0 ? std::min(limit, part) : part;
  }
  return limit;
}

bool StageBudget::operator==(const StageBudget& o) const {
  return minutes() == o.minutes() && share() == o.share() && steps() == o.steps() &&
         epochs() == o.epochs();
}

LossTerms Stage::batch_losses(StageContext&, const torch::Tensor&, const torch::Tensor&) {
  TORCH_CHECK(false, stage_kind_name(kind()), " is not a stepwise stage");
}

double Stage::learning_rate(StageContext&) const {
  TORCH_CHECK(false, stage_kind_name(kind()), " is not a stepwise stage");
}

WholeStageResult Stage::run(StageContext&) {
  TORCH_CHECK(false, stage_kind_name(kind()), " is a stepwise stage, trained batch by batch");
}

StageSettings::StageSettings(std::string stage) : stage_(std::move(stage)) {}

void StageSettings::set(const std::string& key, const std::string& value) {
  DCACN_CHECK(values_.count(key) == 0, "--stages: '", key, "' given twice in stage ", stage_);
  values_[key] = value;
}

double StageSettings::number(const std::string& key, double fallback) {
  const auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const std::string text = it->second;
  values_.erase(it);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  DCACN_CHECK(!text.empty() && end != nullptr && *end == '\0', "--stages: ", stage_, " ", key, "='",
              text, "' is not a number");
  return v;
}

int64_t StageSettings::integer(const std::string& key, int64_t fallback) {
  const double v = number(key, static_cast<double>(fallback));
  DCACN_CHECK(v == static_cast<double>(static_cast<int64_t>(v)), "--stages: ", stage_, " ", key,
              "=", v, " must be a whole number");
  return static_cast<int64_t>(v);
}

std::string StageSettings::text(const std::string& key, const std::string& fallback) {
  const auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const std::string v = it->second;
  values_.erase(it);
  return v;
}

bool StageSettings::flag(const std::string& key, bool fallback) {
  const std::string v = text(key, fallback ? "on" : "off");
  DCACN_CHECK(v == "on" || v == "off", "--stages: ", stage_, " ", key, " must be on or off, got ",
              v);
  return v == "on";
}

StageBudget StageSettings::budget() {
  StageBudget b;
  b.minutes(number("minutes", 0)).share(number("share", 0)).run_minutes(run_minutes_);
  b.steps(integer("steps", 0)).epochs(integer("epochs", 0));
  DCACN_CHECK(b.minutes() >= 0 && b.steps() >= 0 && b.epochs() >= 0, "--stages: ", stage_,
              "'s budget must not be negative");
  DCACN_CHECK(b.share() >= 0 && b.share() <= 1, "--stages: ", stage_, " share=", b.share(),
              " must be a fraction of the run's time budget, in (0, 1]");
  DCACN_CHECK(b.share() == 0 || run_minutes_ > 0, "--stages: ", stage_, " share=", b.share(),
              " is a share of the run's time budget: give --time-budget MINUTES");
  return b;
}

void StageSettings::expect_all_used(const std::string& known) const {
  if (values_.empty()) return;
  throw InputError(c10::str("--stages: unknown setting '", values_.begin()->first, "' of stage ",
                            stage_, " (it takes ", known, ")"));
}

std::string budget_text(const StageBudget& b) {
  std::string s;
  if (b.minutes() > 0) s += ":minutes=" + exact_number(b.minutes());
  if (b.share() > 0) s += ":share=" + exact_number(b.share());
  if (b.steps() > 0) s += c10::str(":steps=", b.steps());
  if (b.epochs() > 0) s += c10::str(":epochs=", b.epochs());
  return s;
}

}  // namespace dcacn
