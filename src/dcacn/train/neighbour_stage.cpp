#include "dcacn/train/neighbour_stage.h"

#include <chrono>

#include "dcacn/train/pipeline.h"
#include "dcacn/util/error.h"
#include "dcacn/util/log.h"
#include "dcacn/util/progress.h"

namespace dcacn {

NeighbourStageOptions neighbour_stage_options(StageSettings& s, const TrainConfig& c) {
  NeighbourStageOptions o;
  const std::string space = c.neighbour_space == "off" ? "pixels" : c.neighbour_space;
  o.space(parse_neighbour_space(s.text("space", space), "--stages neighbours space"));
  o.k(s.integer("k", c.neighbour_k));
  o.heads()
      .heads(s.integer("heads", c.neighbour_heads))
      .epochs(s.integer("passes", c.neighbour_epochs))
      .lr(s.number("lr", c.neighbour_lr))
      .entropy_weight(s.number("entropy", c.neighbour_entropy_weight))
      .seed(c.seed);
  s.expect_all_used("space, k, heads, passes, lr, entropy");
  const NeighbourHeadOptions& h = o.heads();
  DCACN_CHECK(o.k() >= 1 && h.heads() >= 1 && h.epochs() >= 1,
              "--stages: neighbours k, heads and passes must be positive, got ", o.k(), ", ",
              h.heads(), " and ", h.epochs());
  DCACN_CHECK(h.lr() > 0 && h.entropy_weight() >= 0,
              "--stages: neighbours lr must be positive and entropy non-negative, got ", h.lr(),
              " and ", h.entropy_weight());
  return o;
}

std::string NeighbourStage::describe() const {
  const NeighbourHeadOptions& h = options_.heads();
  return c10::str("neighbours:space=", neighbour_space_name(options_.space()), ":k=", options_.k(),
                  ":heads=", h.heads(), ":passes=", h.epochs(), ":lr=", exact_number(h.lr()),
                  ":entropy=", exact_number(h.entropy_weight()));
}

void copy_parameters(torch::nn::Module& target, const torch::nn::Module& source) {
  torch::NoGradGuard no_grad;
  const auto from = source.named_parameters();
  for (auto& item : target.named_parameters()) {
    const torch::Tensor* given = from.find(item.key());
    DCACN_CHECK(given != nullptr, "copying parameters: ", item.key(), " is missing");
    DCACN_CHECK(given->sizes() == item.value().sizes(), "copying parameters: ", item.key(), " is ",
                given->sizes(), ", expected ", item.value().sizes());
    item.value().copy_(*given);
  }
}

double NeighbourStage::estimate_seconds(StageContext& context) {
  const int64_t n = context.images().size();
  if (heads_seconds_ < 0) {
    heads_seconds_ =
        neighbour_heads_seconds(context.model()->cluster_head->options, options_.heads(), n,
                                std::min<int64_t>(options_.k(), n - 1), context.device());
  }
  if (neighbours_mined(context, options_.space(), options_.k())) return heads_seconds_;
  if (mining_seconds_ < 0)
    mining_seconds_ = mining_seconds(context, options_.space(), options_.k());
  return heads_seconds_ + mining_seconds_;
}

WholeStageResult NeighbourStage::run(StageContext& context) {
  // What a run's time budget expected, when it asked (for the log line at the end).
  const double estimate = heads_seconds_ < 0 ? -1.0 : estimate_seconds(context);
  const auto start = std::chrono::steady_clock::now();
  const torch::Tensor cpu_features = context.features();
  const torch::Tensor features = cpu_features.to(context.device(), torch::kFloat32);
  const torch::Tensor neighbours =
      mine_neighbours(context, options_.space(), options_.k(), "neighbour stage");
  const NeighbourHeadOptions& o = options_.heads();
  DCACN& model = context.model();
  NeighbourHeadResult trained = train_neighbour_heads(
      features, neighbours, model->cluster_head->options, o, [&](int64_t done, int64_t all) {
        context.show_progress(
            c10::str("neighbour stage: ", o.heads(), " heads, epoch ", done, "/", all));
        if (context.stop_requested()) throw StageInterrupted();
      });
  context.finish_progress();
  copy_parameters(*model->cluster_head, *trained.head);
  WholeStageResult out;
  {
    torch::NoGradGuard no_grad;  // the head has no layer that trains differently
    out.predictions = model->cluster_head->forward(features).argmax(1).cpu();
  }
  out.features = cpu_features;
  const int64_t chosen = trained.chosen;
  out.total = trained.total[chosen];
  out.consistency = trained.consistency[chosen];
  out.entropy = trained.entropy[chosen];
  std::string losses;
  for (size_t h = 0; h < trained.total.size(); ++h) {
    losses += c10::str(h == 0 ? "" : ", ", fixed(trained.consistency[h], 4));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log_info(c10::str("neighbour stage: kept head ", chosen, " of ", o.heads(),
                    " (consistency per head: ", losses, "); ", fixed(seconds, 0), " s",
                    estimate < 0
                        ? std::string()
                        : c10::str(" (estimated beforehand: ", fixed(estimate, 0), " s)")));
  return out;
}

}  // namespace dcacn
