#include "dcacn/train/neighbour_stage.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <vector>

#include "dcacn/cluster/k_estimation.h"
#include "dcacn/train/heads_k_estimation.h"
#include "dcacn/train/pipeline.h"
#include "dcacn/util/error.h"
#include "dcacn/util/log.h"
#include "dcacn/util/progress.h"

namespace dcacn {

NeighbourStageOptions neighbour_stage_options(StageSettings& s, const TrainConfig& c) {
  NeighbourStageOptions o;
  const std::string space = c.neighbour_space == "off" ? "pixels" : c.neighbour_space;
  o.space(parse_neighbour_space(s.text("space", space), "--stages neighbours space"));
  o.whiten(s.flag("whiten", o.whiten()));
  o.k(s.integer("k", c.neighbour_k));
  o.heads()
      .heads(s.integer("heads", c.neighbour_heads))
      .epochs(s.integer("passes", c.neighbour_epochs))
      .lr(s.number("lr", c.neighbour_lr))
      .entropy_weight(s.number("entropy", c.neighbour_entropy_weight))
      .patience(s.integer("patience", kNeighbourPatience))
      .tolerance(s.number("tolerance", kNeighbourTolerance))
      .keep(parse_head_choice(s.text("keep", "consensus"), "--stages neighbours keep"))
      .bf16(c.bf16)  // the run's precision, measured (--precision auto) or set
      .seed(c.seed);
  o.own(s.flag("own", false));
  s.expect_all_used("space, whiten, k, heads, passes, lr, entropy, patience, tolerance, keep, own");
  if (!c.k_range.empty()) {
    const auto [low, high] = parse_k_range(c.k_range, "--k-range");
    o.min_k(low).max_k(high).k_criterion(parse_k_criterion(c.k_criterion, "--k-criterion"));
    DCACN_CHECK(!o.own(),
                "--stages: neighbours own=on needs the network's number of clusters; "
                "it cannot be used with --k-range ",
                c.k_range, " (give --stages without own=on, e.g. --stages ",
                "contrastive:share=1:neighbours=1,neighbours:space=features)");
  }
  const NeighbourHeadOptions& h = o.heads();
  DCACN_CHECK(o.k() >= 1 && h.heads() >= 1 && h.epochs() >= 1,
              "--stages: neighbours k, heads and passes must be positive, got ", o.k(), ", ",
              h.heads(), " and ", h.epochs());
  DCACN_CHECK(h.patience() >= 0 && h.tolerance() >= 0 && h.tolerance() < 1,
              "--stages: neighbours patience must be 0 (every pass) or more and tolerance in "
              "[0, 1), got ",
              h.patience(), " and ", h.tolerance());
  DCACN_CHECK(h.lr() > 0 && h.entropy_weight() >= 0,
              "--stages: neighbours lr must be positive and entropy non-negative, got ", h.lr(),
              " and ", h.entropy_weight());
  return o;
}

std::string NeighbourStage::describe() const {
  const NeighbourHeadOptions& h = options_.heads();
  return c10::str("neighbours:space=", neighbour_space_name(options_.space()),
                  ":whiten=", options_.whiten() ? "on" : "off", ":k=", options_.k(),
                  ":heads=", h.heads(), ":passes=", h.epochs(), ":lr=", exact_number(h.lr()),
                  ":entropy=", exact_number(h.entropy_weight()), ":patience=", h.patience(),
                  ":tolerance=", exact_number(h.tolerance()), ":keep=", head_choice_name(h.keep()),
                  // Named only when on: the text of stages begun before own existed stays.
                  options_.own() ? ":own=on" : "");
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

namespace {

KEstimationOptions k_estimation_options(const NeighbourStageOptions& o, uint64_t seed) {
  return KEstimationOptions().min_k(o.min_k()).max_k(o.max_k()).seed(seed);
}

HeadsKEstimationOptions heads_k_options(const NeighbourStageOptions& o, uint64_t seed) {
  HeadsKEstimationOptions h;
  // bf16 products where the stage's own heads have them (the run's precision is bf16): half
  // the criterion's time on a CPU with native bf16 products (bench/results/k_estimation.md).
  h.heads().lr(o.heads().lr()).entropy_weight(o.heads().entropy_weight()).bf16(o.heads().bf16());
  return h.min_k(o.min_k()).max_k(o.max_k()).seed(seed);
}

// The space the heads' K criterion mines its graph in: the stage's, or for auto the pixels
// (the space auto kept on Fashion-MNIST; the criterion is screened there, k_estimation.md).
NeighbourSpace k_graph_space(NeighbourSpace space) {
  return space == NeighbourSpace::kAuto ? NeighbourSpace::kPixels : space;
}

// The heads' K criterion on a random subsample of the run's images (its own generator: the
// run's random stream is not moved), with their neighbours mined among them.
KEstimate estimate_k_by_heads(StageContext& context, const NeighbourStageOptions& o,
                              const torch::Tensor& cpu_features, std::string* what) {
  const int64_t n = context.images().size();
  const int64_t m = std::min(n, kHeadsKSubsample);
  at::Generator generator = at::detail::createCPUGenerator(context.seed() * 7919ULL + 13);
  const torch::Tensor rows =
      torch::randperm(n, generator, torch::TensorOptions().dtype(torch::kInt64)).narrow(0, 0, m);
  const NeighbourSpace space = k_graph_space(o.space());
  const int64_t k = std::min<int64_t>(o.k(), m - 1);
  *what = c10::str("agreement of neighbour heads less a Gaussian reference's; ", m,
                   " images and their ", neighbour_space_name(space), " neighbours");
  context.show_progress(c10::str("neighbour stage: estimating the number of clusters: mining the ",
                                 k, " nearest neighbours of ", m, " images"));
  const torch::Tensor sample = cpu_features.index_select(0, rows);
  const torch::Tensor graph = mine_neighbours_of(context.images().images.index_select(0, rows),
                                                 sample, space, k, o.whiten(), context.device());
  return estimate_clusters_by_heads(
      sample.to(context.device(), torch::kFloat32), graph, heads_k_options(o, context.seed()),
      [&](int64_t done, int64_t all) {
        context.show_progress(c10::str(
            "neighbour stage: estimating the number of clusters in ", o.min_k(), "-", o.max_k(),
            " (heads' agreement, ", neighbour_space_name(space), " neighbours of ", m,
            " images): K ", o.min_k() + done - 1, " done, ", done, "/", all));
        if (context.stop_requested()) throw StageInterrupted();
      });
}

// The spaces a stage mines in: its own, or for auto all three.
std::vector<NeighbourSpace> candidate_spaces(NeighbourSpace space) {
  if (space != NeighbourSpace::kAuto) return {space};
  return {NeighbourSpace::kPixels, NeighbourSpace::kFeatures, NeighbourSpace::kBoth};
}

// The spaces whose neighbours judge the network's own head against the heads (own=on): those
// tried, and pixels and features where they were not.
std::vector<NeighbourSpace> judging_spaces(const NeighbourStageOptions& o) {
  if (!o.own()) return {};
  std::vector<NeighbourSpace> spaces = candidate_spaces(o.space());
  for (NeighbourSpace s : {NeighbourSpace::kPixels, NeighbourSpace::kFeatures}) {
    if (std::find(spaces.begin(), spaces.end(), s) == spaces.end()) spaces.push_back(s);
  }
  return spaces;
}

double mean_fit(const torch::Tensor& clusters, const std::vector<torch::Tensor>& graphs,
                std::string* detail, const std::vector<NeighbourSpace>& spaces) {
  double sum = 0;
  for (size_t g = 0; g < graphs.size(); ++g) {
    const double fit = neighbour_fit(clusters, graphs[g]);
    sum += fit;
    *detail += c10::str(g == 0 ? "" : ", ", neighbour_space_name(spaces[g]), " ", fixed(fit, 4));
  }
  return sum / static_cast<double>(graphs.size());
}

// One space tried: its neighbours, the heads trained on them, the kept head's clusters.
struct SpaceTrial {
  NeighbourSpace space;
  torch::Tensor neighbours;
  NeighbourHeadResult trained;
  torch::Tensor clusters;    // [N] int64, CPU
  std::vector<double> fits;  // of the clusters to every trial's neighbours
  double mean_fit = 0;
};

// auto: the trial whose clusters the neighbours of every space support best (mean of
// neighbour_fit over the trials' graphs). Heads trained on the features they cluster can fit
// neighbours mined in those same features without finding the classes (they reproduce the
// features' own confusions); clusters that capture what the spaces share are supported by all
// of them. On Fashion-MNIST (docs/design.md) the mean fit ranked the spaces as their ACC did.
size_t choose_space(std::vector<SpaceTrial>& trials, StageContext& context) {
  std::string header = "space";
  for (const SpaceTrial& t : trials) header += ",fit_" + neighbour_space_name(t.space);
  std::string csv = header + ",mean_fit,chosen\n";
  size_t best = 0;
  for (size_t i = 0; i < trials.size(); ++i) {
    SpaceTrial& t = trials[i];
    for (const SpaceTrial& g : trials) t.fits.push_back(neighbour_fit(t.clusters, g.neighbours));
    t.mean_fit = std::accumulate(t.fits.begin(), t.fits.end(), 0.0) / t.fits.size();
    if (t.mean_fit > trials[best].mean_fit) best = i;
  }
  for (size_t i = 0; i < trials.size(); ++i) {
    const SpaceTrial& t = trials[i];
    std::string fits, row = neighbour_space_name(t.space);
    for (size_t g = 0; g < trials.size(); ++g) {
      fits += c10::str(g == 0 ? "" : ", ", neighbour_space_name(trials[g].space), " ",
                       fixed(t.fits[g], 4));
      row += "," + fixed(t.fits[g], 6);
    }
    csv += row + "," + fixed(t.mean_fit, 6) + "," + (i == best ? "1" : "0") + "\n";
    log_info(c10::str("neighbour stage: auto: clusters from ", neighbour_space_name(t.space),
                      " neighbours fit the neighbours of ", fits, " (above chance; mean ",
                      fixed(t.mean_fit, 4), ")", i == best ? ": kept" : ""));
  }
  context.write_run_file(kNeighbourSpaceFile, csv);
  return best;
}

// own=on: whether the network's own cluster head fits the judging spaces' neighbours (those
// the trials mined, the others mined now) better than the kept heads' `head` does; logged.
bool network_fits_better(StageContext& context, const NeighbourStageOptions& o,
                         const std::vector<SpaceTrial>& trials, ClusterHead& head,
                         const torch::Tensor& features) {
  const std::vector<NeighbourSpace> judges = judging_spaces(o);
  std::vector<torch::Tensor> graphs;
  for (NeighbourSpace space : judges) {
    auto trial = std::find_if(trials.begin(), trials.end(),
                              [&](const SpaceTrial& t) { return t.space == space; });
    graphs.push_back(trial != trials.end()
                         ? trial->neighbours
                         : mine_neighbours(context, space, o.k(), o.whiten(), "neighbour stage"));
  }
  context.finish_progress();
  torch::NoGradGuard no_grad;
  std::string network_detail, heads_detail;
  const double network_fit =
      mean_fit(context.model()->cluster_head->forward(features).argmax(1).cpu(), graphs,
               &network_detail, judges);
  const double heads_fit =
      mean_fit(head->forward(features).argmax(1).cpu(), graphs, &heads_detail, judges);
  const bool better = network_fit > heads_fit;
  log_info(c10::str("neighbour stage: own=on: the network's clusters fit the neighbours of ",
                    network_detail, " (mean ", fixed(network_fit, 4), "), the heads' ",
                    heads_detail, " (mean ", fixed(heads_fit, 4), "): kept ",
                    better ? "the network's own head" : "the heads'"));
  return better;
}

}  // namespace

bool another_heads_pass(int64_t done, int64_t all, double pass_seconds, double seconds_left,
                        double later_seconds, double allowed_over) {
  if (done >= all) return true;  // the last: nothing to decide
  const double left = seconds_left - later_seconds + (2 * done < all ? allowed_over : 0.0);
  return left >= 2.0 * pass_seconds;
}

double NeighbourStage::estimate_seconds(StageContext& context) {
  const int64_t n = context.images().size();
  if (options_.max_k() > 0 && k_seconds_ < 0 && options_.k_criterion() == KCriterion::kHeads) {
    const int64_t m = std::min(n, kHeadsKSubsample);
    k_seconds_ =
        heads_k_estimation_seconds(heads_k_options(options_, context.seed()), m,
                                   context.model()->cluster_head->options.feature_dim(),
                                   std::min<int64_t>(options_.k(), m - 1), context.device());
  }
  if (options_.max_k() > 0 && k_seconds_ < 0) {
    // Fits of the largest K on random rows, scaled to the range (a fit's cost grows with K).
    const KEstimationOptions all = k_estimation_options(options_, context.seed());
    KEstimationOptions one = all;
    one.min_k(all.max_k()).pairs(1);
    const int64_t dim = context.model()->cluster_head->options.feature_dim();
    const int64_t rows = std::min(n, all.subsample() + all.evaluation());
    if (rows > all.max_k()) {
      // Its own generator: timing must not move the run's global random stream.
      at::Generator generator = at::detail::createCPUGenerator(context.seed() * 7919ULL + 3);
      const double seconds = estimate_clusters(torch::randn({rows, dim}, generator), one).seconds;
      const double ks = static_cast<double>(all.max_k() - all.min_k() + 1);
      k_seconds_ = seconds * all.pairs() * ks * (all.min_k() + all.max_k()) / (2.0 * all.max_k());
    } else {
      k_seconds_ = 0;
    }
  }
  const double k_seconds = std::max(k_seconds_, 0.0);
  if (heads_seconds_ < 0) {
    heads_seconds_ =
        neighbour_heads_seconds(context.model()->cluster_head->options, options_.heads(), n,
                                std::min<int64_t>(options_.k(), n - 1), context.device());
  }
  // Each space's mining is timed once, and counted while its graph is not yet mined.
  std::vector<NeighbourSpace> spaces = candidate_spaces(options_.space());
  double seconds = k_seconds + heads_seconds_ * static_cast<double>(spaces.size());
  if (options_.own()) spaces = judging_spaces(options_);
  for (size_t i = 0; i < spaces.size(); ++i) {
    if (neighbours_mined(context, spaces[i], options_.k(), options_.whiten())) continue;
    if (mining_seconds_.size() <= i) mining_seconds_.resize(spaces.size(), -1.0);
    if (mining_seconds_[i] < 0)
      mining_seconds_[i] = mining_seconds(context, spaces[i], options_.k());
    seconds += mining_seconds_[i];
  }
  return seconds;
}

void NeighbourStage::retime() {
  heads_seconds_ = -1;
  k_seconds_ = -1;
  mining_seconds_.clear();
}

WholeStageResult NeighbourStage::run(StageContext& context) {
  // What a run's time budget expected, when it asked (for the log line at the end).
  const double estimate = heads_seconds_ < 0 ? -1.0 : estimate_seconds(context);
  const auto start = std::chrono::steady_clock::now();
  const torch::Tensor cpu_features = context.features();
  const torch::Tensor features = cpu_features.to(context.device(), torch::kFloat32);
  const NeighbourHeadOptions& o = options_.heads();
  DCACN& model = context.model();
  ClusterHeadOptions head = model->cluster_head->options;
  if (options_.max_k() > 0) {
    KEstimate k;
    std::string what = "stability of k-means on the features less a Gaussian reference's";
    if (options_.k_criterion() == KCriterion::kHeads) {
      k = estimate_k_by_heads(context, options_, cpu_features, &what);
    } else {
      context.show_progress(c10::str("neighbour stage: estimating the number of clusters in ",
                                     options_.min_k(), "-", options_.max_k()));
      k = estimate_clusters(features, k_estimation_options(options_, context.seed()));
    }
    context.finish_progress();
    log_info("number of clusters (" + what + "): " + k.summary());
    context.write_run_file(kKEstimateFile, k.csv());
    head.clusters(k.chosen);
  }
  std::vector<SpaceTrial> trials;
  const std::vector<NeighbourSpace> spaces = candidate_spaces(options_.space());
  for (NeighbourSpace space : spaces) {
    SpaceTrial t;
    t.space = space;
    t.neighbours =
        mine_neighbours(context, space, options_.k(), options_.whiten(), "neighbour stage");
    const std::string where = options_.space() == NeighbourSpace::kAuto
                                  ? c10::str(" (", neighbour_space_name(space), " neighbours)")
                                  : std::string();
    // A run's time budget may end the passes early (the estimate at the start may have been
    // short). The spaces still to try keep their share.
    const double later_spaces = static_cast<double>(spaces.size() - trials.size() - 1);
    auto pass_start = std::chrono::steady_clock::now();
    t.trained =
        train_neighbour_heads(features, t.neighbours, head, o, [&](int64_t done, int64_t all) {
          context.show_progress(c10::str("neighbour stage: ", o.heads(), " heads", where,
                                         ", epoch ", done, "/", all));
          if (context.stop_requested()) throw StageInterrupted();
          const auto now = std::chrono::steady_clock::now();
          const double pass = std::chrono::duration<double>(now - pass_start).count();
          pass_start = now;
          return another_heads_pass(done, all, pass, context.seconds_left(),
                                    later_spaces * std::max(heads_seconds_, 0.0),
                                    context.seconds_allowed_over());
        });
    context.finish_progress();
    if (options_.space() == NeighbourSpace::kAuto) {
      torch::NoGradGuard no_grad;
      t.clusters = t.trained.head->forward(features).argmax(1).cpu();
    }
    trials.push_back(std::move(t));
  }
  const size_t kept = trials.size() == 1 ? 0 : choose_space(trials, context);
  NeighbourHeadResult& trained = trials[kept].trained;
  const bool keep_network =
      options_.own() && network_fits_better(context, options_, trials, trained.head, features);
  if (!keep_network && head.clusters() == model->cluster_head->options.clusters()) {
    copy_parameters(*model->cluster_head, *trained.head);
  } else if (!keep_network) {
    context.replace_cluster_head(trained.head);
  }
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
  std::string losses, agreement;
  for (size_t h = 0; h < trained.total.size(); ++h) {
    losses += c10::str(h == 0 ? "" : ", ", fixed(trained.consistency[h], 4));
    agreement += c10::str(h == 0 ? "" : ", ", fixed(trained.agreement[h], 3));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log_info(c10::str(
      "neighbour stage: ", keep_network ? "best of the heads: head " : "kept head ", chosen, " of ",
      o.heads(),
      trials.size() > 1 ? c10::str(" (", neighbour_space_name(trials[kept].space), " neighbours)")
                        : std::string(),
      " (", head_choice_name(o.keep()),
      o.keep() == HeadChoice::kConsensus ? c10::str("; mean ARI with the other heads: ", agreement,
                                                    "; lowest loss: head ", trained.lowest_loss)
                                         : std::string(),
      "; consistency per head: ", losses, ") after ", trained.epochs, " of ", o.epochs(), " passes",
      trained.ended_by_caller ? " (the run's time budget ended them)" : "",
      o.bf16() && o.batched() ? ", bf16 products" : "", "; ", fixed(seconds, 0), " s",
      estimate < 0 ? std::string()
                   : c10::str(" (estimated beforehand: ", fixed(estimate, 0), " s)")));
  return out;
}

}  // namespace dcacn
