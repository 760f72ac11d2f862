#include "dcacn/train/neighbour_stage.h"

#include <chrono>

#include "dcacn/cluster/neighbours.h"
#include "dcacn/run/setup.h"
#include "dcacn/train/pipeline.h"
#include "dcacn/util/error.h"
#include "dcacn/util/log.h"
#include "dcacn/util/progress.h"

namespace dcacn {

NeighbourSpace parse_neighbour_space(const std::string& text, const std::string& option) {
  if (text == "pixels") return NeighbourSpace::kPixels;
  if (text == "features") return NeighbourSpace::kFeatures;
  throw InputError(option + " must be pixels or features, got " + text);
}

std::string neighbour_space_name(NeighbourSpace space) {
  return space == NeighbourSpace::kPixels ? "pixels" : "features";
}

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

torch::Tensor pixel_space(const torch::Tensor& images, torch::Device device) {
  // Larger images would make the rows, and the similarity products, costly without making the
  // neighbours better.
  constexpr int64_t kSide = 32;
  std::vector<torch::Tensor> rows;
  for (int64_t start = 0; start < images.size(0); start += 4096) {
    torch::Tensor x =
        to_device(images.slice(0, start, start + 4096), device).to(torch::kFloat32) / 255.0;
    if (x.size(2) > kSide || x.size(3) > kSide) {
      x = torch::adaptive_avg_pool2d(x, {std::min(kSide, x.size(2)), std::min(kSide, x.size(3))});
    }
    rows.push_back(x.flatten(1));
  }
  return torch::cat(rows);
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

WholeStageResult NeighbourStage::run(StageContext& context) {
  const auto start = std::chrono::steady_clock::now();
  const torch::Tensor cpu_features = context.features();
  const torch::Tensor features = cpu_features.to(context.device(), torch::kFloat32);
  const bool pixels = options_.space() == NeighbourSpace::kPixels;
  const int64_t n = context.images().size();
  log_info(c10::str("neighbour stage: mining the ", options_.k(), " nearest neighbours of ", n,
                    " images in ", pixels ? "pixel" : "feature", " space"));
  NeighbourOptions mine;
  mine.k = std::min<int64_t>(options_.k(), n - 1);
  mine.centre = pixels;
  const torch::Tensor space =
      pixels ? pixel_space(context.images().images, context.device()) : features;
  const torch::Tensor neighbours = nearest_neighbours(space, mine, [&](int64_t done, int64_t all) {
    context.show_progress(c10::str("neighbours: images ", done, "/", all));
  });
  context.finish_progress();
  context.record_neighbours(neighbours.cpu());
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
  log_info(c10::str(
      "neighbour stage: kept head ", chosen, " of ", o.heads(), " (consistency per head: ", losses,
      "); ",
      fixed(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 0),
      " s"));
  return out;
}

}  // namespace dcacn
