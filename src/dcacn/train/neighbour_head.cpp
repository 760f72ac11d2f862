#include "dcacn/train/neighbour_head.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>
#include <torch/utils.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>

#include "dcacn/metrics/metrics.h"
#include "dcacn/util/error.h"

namespace dcacn {
namespace {

// PyTorch's default initialisation of a Linear layer (weights and biases uniform in
// +-1/sqrt(fan_in)), drawn from `gen` so that the heads depend on the stage's seed alone.
void initialise(ClusterHead& head, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  for (auto& module : head->mlp->children()) {
    auto* linear = module->as<torch::nn::Linear>();
    if (linear == nullptr) continue;
    const double bound = 1.0 / std::sqrt(static_cast<double>(linear->options.in_features()));
    linear->weight.uniform_(-bound, bound, gen);
    if (linear->bias.defined()) linear->bias.uniform_(-bound, bound, gen);
  }
}

}  // namespace

NeighbourLoss neighbour_loss(const torch::Tensor& anchors, const torch::Tensor& neighbours,
                             double entropy_weight) {
  TORCH_CHECK(anchors.dim() == 2 && anchors.sizes() == neighbours.sizes(),
              "neighbour_loss: expected two [B, K] matrices of the same shape, got ",
              anchors.sizes(), " and ", neighbours.sizes());
  const torch::Tensor consistency = -(anchors * neighbours).sum(1).clamp_min(1e-7).log().mean();
  const torch::Tensor m = anchors.mean(0);
  const torch::Tensor entropy = -(m * m.clamp_min(1e-8).log()).sum();
  return {consistency - entropy_weight * entropy, consistency, entropy};
}

namespace {

// The loss of a head over all rows and all their neighbours: neighbour_loss over every (row,
// neighbour) pair, each row repeated once per neighbour (which leaves the mean assignment as it
// is).
NeighbourLoss full_loss(ClusterHead& head, const torch::Tensor& features,
                        const torch::Tensor& neighbours, double entropy_weight) {
  torch::NoGradGuard no_grad;
  const torch::Tensor p = head->forward(features).to(torch::kFloat64);
  return neighbour_loss(p.repeat_interleave(neighbours.size(1), 0),
                        p.index_select(0, neighbours.reshape(-1)), entropy_weight);
}

}  // namespace

std::vector<double> head_agreement(const std::vector<std::vector<int64_t>>& clusters) {
  const size_t h = clusters.size();
  std::vector<double> sum(h, 0.0);
  for (size_t a = 0; a < h; ++a) {
    for (size_t b = a + 1; b < h; ++b) {
      const double ari = adjusted_rand_index(clusters[a], clusters[b]);
      sum[a] += ari;
      sum[b] += ari;
    }
  }
  std::vector<double> mean(h, 1.0);
  if (h > 1) {
    for (size_t a = 0; a < h; ++a) mean[a] = sum[a] / static_cast<double>(h - 1);
  }
  return mean;
}

HeadChoice parse_head_choice(const std::string& text, const std::string& option) {
  if (text == "consensus") return HeadChoice::kConsensus;
  if (text == "loss") return HeadChoice::kLowestLoss;
  throw InputError(option + " must be consensus or loss, got " + text);
}

std::string head_choice_name(HeadChoice choice) {
  return choice == HeadChoice::kConsensus ? "consensus" : "loss";
}

namespace {

// The heads as stacked tensors, so that one batched product serves them all: head h is
// softmax(relu(x w1[h] + b1[h]) w2[h] + b2[h]), w1 [H, D, D] and w2 [H, D, K] input-major.
// Initialised as ClusterHead's Linear layers would be, head after head from the same generator,
// so that the heads are those of the one-at-a-time path (the reference; options.batched(false)).
struct HeadStack {
  torch::Tensor w1, b1, w2, b2;
  std::unique_ptr<torch::optim::Adam> adam;
  // Products in bfloat16 on bf16 copies of the float32 weights (the casts are differentiable,
  // so the gradients reach the float32 weights that Adam updates); the softmax in float32.
  bool bf16 = false;

  int64_t size() const { return w1.size(0); }
  // [B, D] -> [H, B, K] probabilities (float32).
  torch::Tensor forward(const torch::Tensor& x) const {
    const auto low = [&](const torch::Tensor& t) { return bf16 ? t.to(torch::kBFloat16) : t; };
    const torch::Tensor in = low(x).unsqueeze(0).expand({size(), x.size(0), x.size(1)});
    const torch::Tensor hidden = torch::relu(torch::baddbmm(low(b1), in, low(w1)));
    return torch::softmax(torch::baddbmm(low(b2), hidden, low(w2)).to(torch::kFloat32), 2);
  }
  // Head h as a ClusterHead (weights copied).
  ClusterHead head(int64_t h, const ClusterHeadOptions& options) const {
    ClusterHead out(options);
    torch::NoGradGuard no_grad;
    auto children = out->mlp->children();
    auto* first = children[0]->as<torch::nn::Linear>();
    auto* second = children[2]->as<torch::nn::Linear>();
    first->weight.copy_(w1[h].t());
    first->bias.copy_(b1[h].squeeze(0));
    second->weight.copy_(w2[h].t());
    second->bias.copy_(b2[h].squeeze(0));
    out->to(w1.device());
    out->eval();
    return out;
  }
};

HeadStack make_stack(const ClusterHeadOptions& head_options, const NeighbourHeadOptions& options,
                     at::Generator& gen, torch::Device device) {
  const int64_t h = options.heads(), d = head_options.feature_dim(), k = head_options.clusters();
  std::vector<torch::Tensor> w1, b1, w2, b2;
  const double bound = 1.0 / std::sqrt(static_cast<double>(d));
  for (int64_t i = 0; i < h; ++i) {
    // Linear(D, D) then Linear(D, K): weight [out, in] then bias, as initialise() draws them.
    w1.push_back(torch::empty({d, d}).uniform_(-bound, bound, gen).t());
    b1.push_back(torch::empty({1, d}).uniform_(-bound, bound, gen));
    w2.push_back(torch::empty({k, d}).uniform_(-bound, bound, gen).t());
    b2.push_back(torch::empty({1, k}).uniform_(-bound, bound, gen));
  }
  HeadStack s;
  s.bf16 = options.bf16();
  s.w1 = torch::stack(w1).to(device).contiguous().requires_grad_(true);
  s.b1 = torch::stack(b1).to(device).contiguous().requires_grad_(true);
  s.w2 = torch::stack(w2).to(device).contiguous().requires_grad_(true);
  s.b2 = torch::stack(b2).to(device).contiguous().requires_grad_(true);
  s.adam = std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{s.w1, s.b1, s.w2, s.b2},
                                                torch::optim::AdamOptions(options.lr()));
  return s;
}

// Per head over the rows of `p` ([H, 2b, K]: b anchors, then their b partners): the
// consistency [H] and the entropy of the mean assignment [H] (neighbour_loss, batched).
std::pair<torch::Tensor, torch::Tensor> stacked_loss(const torch::Tensor& p, int64_t b) {
  const torch::Tensor anchors = p.slice(1, 0, b), partners = p.slice(1, b);
  const torch::Tensor consistency = -(anchors * partners).sum(2).clamp_min(1e-7).log().mean(1);
  const torch::Tensor m = anchors.mean(1);
  const torch::Tensor entropy = -(m * m.clamp_min(1e-8).log()).sum(1);
  return {consistency, entropy};
}

// The one-at-a-time path: options.heads() ClusterHeads and one Adam over all of them.
struct HeadSet {
  std::vector<ClusterHead> heads;
  std::unique_ptr<torch::optim::Adam> adam;
};

HeadSet make_heads(const ClusterHeadOptions& head_options, const NeighbourHeadOptions& options,
                   at::Generator& gen, torch::Device device) {
  HeadSet set;
  std::vector<torch::Tensor> params;
  for (int64_t h = 0; h < options.heads(); ++h) {
    ClusterHead head(head_options);
    initialise(head, gen);
    head->to(device);
    head->train();
    for (auto& p : head->parameters()) params.push_back(p);
    set.heads.push_back(head);
  }
  set.adam = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(options.lr()));
  return set;
}

// Either path behind one interface: a step on `both` (b anchors' features, then their b
// partners') returns the summed consistency of the heads (for the stopping rule), left on the
// device so that a step does not wait for it.
struct Heads {
  HeadStack stack;
  HeadSet set;
  bool batched = true;

  torch::Tensor step(const torch::Tensor& both, int64_t b, double entropy_weight) {
    torch::Tensor loss, consistency;
    torch::optim::Adam* adam;
    if (batched) {
      const auto [c, e] = stacked_loss(stack.forward(both), b);
      loss = (c - entropy_weight * e).sum();
      consistency = c.sum();
      adam = stack.adam.get();
    } else {
      loss = torch::zeros({}, both.options());
      consistency = torch::zeros({}, both.options());
      for (auto& head : set.heads) {
        const torch::Tensor p = head->forward(both);
        const NeighbourLoss l = neighbour_loss(p.slice(0, 0, b), p.slice(0, b), entropy_weight);
        loss = loss + l.total;
        consistency = consistency + l.consistency;
      }
      adam = set.adam.get();
    }
    adam->zero_grad();
    loss.backward();
    adam->step();
    return consistency.detach();
  }
  ClusterHead head(int64_t h, const ClusterHeadOptions& options) {
    if (batched) return stack.head(h, options);
    set.heads[h]->eval();
    return set.heads[h];
  }
};

Heads make_all_heads(const ClusterHeadOptions& head_options, const NeighbourHeadOptions& options,
                     at::Generator& gen, torch::Device device) {
  Heads heads;
  heads.batched = options.batched();
  if (heads.batched) {
    heads.stack = make_stack(head_options, options, gen, device);
  } else {
    heads.set = make_heads(head_options, options, gen, device);
  }
  return heads;
}

// One pass over the anchors of `x` [N, D] in a random order, each with one of its neighbours
// `nb` [N, k] drawn at random, in batches of b; or its first steps, while `more(steps taken)`
// says so (the start-up estimate). Returns the mean over the steps of the heads' summed
// consistency; `steps`, when given, their number.
double train_epoch(Heads& heads, const torch::Tensor& x, const torch::Tensor& nb, int64_t b,
                   double entropy_weight, at::Generator& gen,
                   const std::function<bool(int64_t)>& more = nullptr,
                   int64_t* steps_out = nullptr) {
  const int64_t n = x.size(0), k = nb.size(1);
  const auto cpu_long = torch::TensorOptions().dtype(torch::kInt64);
  const torch::Tensor order = torch::randperm(n, gen, cpu_long).to(x.device());
  const torch::Tensor pick = torch::randint(k, {n}, gen, cpu_long).to(x.device());
  torch::Tensor sum = torch::zeros({}, x.options().dtype(torch::kFloat64));
  int64_t steps = 0;
  for (int64_t start = 0; start + b <= n && (!more || more(steps)); start += b) {
    const torch::Tensor anchors = order.slice(0, start, start + b);
    const torch::Tensor partners =
        nb.index_select(0, anchors).gather(1, pick.slice(0, start, start + b).unsqueeze(1));
    sum +=
        heads.step(torch::cat({x.index_select(0, anchors), x.index_select(0, partners.squeeze(1))}),
                   b, entropy_weight);
    ++steps;
  }
  if (steps_out != nullptr) *steps_out = steps;
  return steps == 0 ? 0.0 : sum.item<double>() / static_cast<double>(steps);
}

// The trained heads' losses on every anchor with all its neighbours, their clusters' agreement,
// and the head kept.
void score_heads(Heads& heads, const torch::Tensor& x, const torch::Tensor& nb,
                 const ClusterHeadOptions& head_options, const NeighbourHeadOptions& options,
                 NeighbourHeadResult& result) {
  std::vector<std::vector<int64_t>> clusters;
  for (int64_t h = 0; h < options.heads(); ++h) {
    ClusterHead head = heads.head(h, head_options);
    const NeighbourLoss l = full_loss(head, x, nb, options.entropy_weight());
    result.total.push_back(l.total.item<double>());
    result.consistency.push_back(l.consistency.item<double>());
    result.entropy.push_back(l.entropy.item<double>());
    if (result.total[h] < result.total[result.lowest_loss]) result.lowest_loss = h;
    torch::NoGradGuard no_grad;
    const torch::Tensor c = head->forward(x).argmax(1).to(torch::kCPU, torch::kInt64).contiguous();
    clusters.emplace_back(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
  }
  result.agreement = head_agreement(clusters);
  result.chosen = result.lowest_loss;
  if (options.keep() == HeadChoice::kConsensus) {
    for (int64_t h = 0; h < options.heads(); ++h) {
      const double a = result.agreement[h], best = result.agreement[result.chosen];
      if (a > best || (a == best && result.total[h] < result.total[result.chosen])) {
        result.chosen = h;
      }
    }
  }
  result.head = heads.head(result.chosen, head_options);
}

}  // namespace

NeighbourHeadResult train_neighbour_heads(const torch::Tensor& features,
                                          const torch::Tensor& neighbours,
                                          const ClusterHeadOptions& head_options,
                                          const NeighbourHeadOptions& options,
                                          const NeighbourHeadProgress& progress) {
  TORCH_CHECK(features.dim() == 2 && features.size(1) == head_options.feature_dim(),
              "train_neighbour_heads: expected [N, ", head_options.feature_dim(),
              "] features, got ", features.sizes());
  TORCH_CHECK(
      neighbours.dim() == 2 && neighbours.size(0) == features.size(0) && neighbours.size(1) >= 1,
      "train_neighbour_heads: expected [", features.size(0), ", k] neighbours, got ",
      neighbours.sizes());
  TORCH_CHECK(options.heads() >= 1 && options.epochs() >= 0 && options.batch_size() >= 1,
              "train_neighbour_heads: heads and batch size must be positive, epochs not negative");
  const torch::Device device = features.device();
  const torch::Tensor x = features.detach().to(torch::kFloat32);
  const torch::Tensor nb = neighbours.to(device, torch::kInt64);
  const int64_t n = x.size(0), b = std::min(options.batch_size(), n);

  at::Generator gen = at::detail::createCPUGenerator(options.seed() * 2654435761ULL + 17);
  Heads heads = make_all_heads(head_options, options, gen, device);
  NeighbourHeadResult result;
  {
    torch::AutoGradMode grad(true);  // also when the caller is under a no-grad guard
    double best = std::numeric_limits<double>::infinity();
    int64_t since_best = 0;
    for (int64_t epoch = 0; epoch < options.epochs(); ++epoch) {
      const double consistency =
          train_epoch(heads, x, nb, b, options.entropy_weight(), gen) / options.heads();
      result.epochs = epoch + 1;
      result.epoch_consistency.push_back(consistency);
      if (progress && !progress(epoch + 1, options.epochs())) {
        result.ended_by_caller = epoch + 1 < options.epochs();
        break;
      }
      // Stop once a pass has not lowered the heads' mean consistency by the tolerance (relative)
      // for `patience` passes in a row.
      if (consistency < best * (1.0 - options.tolerance())) {
        best = consistency;
        since_best = 0;
      } else if (options.patience() > 0 && ++since_best >= options.patience()) {
        break;
      }
    }
  }

  score_heads(heads, x, nb, head_options, options, result);
  return result;
}

double neighbour_heads_seconds(const ClusterHeadOptions& head_options,
                               const NeighbourHeadOptions& options, int64_t n, int64_t k,
                               torch::Device device) {
  const int64_t b = std::max<int64_t>(1, std::min(options.batch_size(), n));
  // The stage's own steps on random features and neighbours of the stage's size (gathering
  // rows from a table of n is part of a step's cost): two untimed (first-call allocations), then
  // timed ones; and the heads' scoring timed on a slice.
  at::Generator gen = at::detail::createCPUGenerator(options.seed() + 1);
  Heads heads = make_all_heads(head_options, options, gen, device);
  const torch::Tensor x =
      torch::randn({n, head_options.feature_dim()}, gen).to(device, torch::kFloat32);
  const torch::Tensor nb =
      torch::randint(n, {n, std::max<int64_t>(1, k)}, gen, torch::kInt64).to(device);
  auto seconds = [&](auto&& work) {
    const auto start = std::chrono::steady_clock::now();
    work();
    if (x.is_cuda()) x.sum().item<float>();  // wait for the device
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  torch::AutoGradMode grad(true);
  const int64_t untimed = std::min<int64_t>(n, 2 * b);
  train_epoch(heads, x.slice(0, 0, untimed), nb.slice(0, 0, untimed).remainder(untimed), b,
              options.entropy_weight(), gen);
  // The stage's own pass, cut short: steps are timed until kMinSeconds have passed, at least 4
  // and at most a pass's. The estimate still errs by what the machine's speed does later (on 2
  // cores here it alternated between two speeds, 2x apart, every 5-10 s: 0.63-0.75 of 20 passes
  // measured), which is why a run's budget times the later stages again near the end of the
  // stage before them and keeps the heads a floor of passes (neighbour_stage.h).
  constexpr double kMinSeconds = 0.5;
  const int64_t pass_steps = n / b;  // b <= n
  int64_t timed_steps = 0;
  const double steps = seconds([&] {
    const auto start = std::chrono::steady_clock::now();
    train_epoch(
        heads, x, nb, b, options.entropy_weight(), gen,
        [&](int64_t done) {
          return done < 4 ||
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() <
                     kMinSeconds;
        },
        &timed_steps);
  });
  // The heads' scoring, on a slice (it grows with N).
  const int64_t m = std::min<int64_t>(n, 16 * b);
  const double scoring = seconds([&] {
    NeighbourHeadResult scored;
    score_heads(heads, x.slice(0, 0, m), nb.slice(0, 0, m).remainder(m), head_options, options,
                scored);
  });
  return steps / static_cast<double>(std::max<int64_t>(1, timed_steps)) *
             static_cast<double>(pass_steps) * static_cast<double>(options.epochs()) +
         scoring * static_cast<double>(n) / static_cast<double>(m);
}

}  // namespace dcacn
