// Data-parallel training against one process: the same losses and gradients over the global
// batch, and runs that continue with another number of ranks.
#include <torch/optim/adam.h>

#include <fstream>
#include <sstream>

#include "../dist/dist_util.h"
#include "../test_util.h"
#include "dcacn/infer/inference.h"
#include "dcacn/run/checkpoint.h"
#include "dcacn/train/train_step.h"
#include "dcacn/train/trainer.h"
#include "train_util.h"

namespace dcacn {
namespace {

class DistributedTest : public test::TempDirTest {
 protected:
  void SetUp() override {
    if (!have_gloo()) GTEST_SKIP() << "this build has no Gloo";
    TempDirTest::SetUp();
  }
};

double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1e-12, b.abs().max().item<double>());
}

// A small network in float64, from the global generator.
DCACN float64_network() {
  DCACN net(DCACNOptions().depth(18).width(4).in_channels(1).image_size(12).clusters(3));
  net->to(torch::kFloat64);
  return net;
}

// Two global views of 12 px and two local ones of 6 px, 8 images each, in float64.
std::vector<torch::Tensor> random_views() {
  const auto f64 = torch::kFloat64;
  return {torch::rand({8, 1, 12, 12}, f64), torch::rand({8, 1, 12, 12}, f64),
          torch::rand({8, 1, 6, 6}, f64), torch::rand({8, 1, 6, 6}, f64)};
}

struct StepRecord {
  std::vector<double> losses;                // per step
  std::vector<torch::Tensor> grads, params;  // after the last step
};

// Three Adam steps of `model` (a copy) on `views`, as rank `comm->rank()` of a data-parallel run
// (its shard of every view) or as one process (comm null).
StepRecord train_steps(const DCACN& reference, const std::vector<torch::Tensor>& views,
                       const LossOptions& losses, Communicator* comm) {
  auto model = std::dynamic_pointer_cast<DCACNImpl>(reference->clone());
  DCACN net(model);
  net->eval();  // BatchNorm from its running statistics: the same function of each image
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(1e-3));
  const int world = comm == nullptr ? 1 : comm->size();
  const int rank = comm == nullptr ? 0 : comm->rank();
  std::vector<torch::Tensor> mine;
  for (const auto& v : views) {
    mine.push_back(rank_shard(v, rank, world));
  }
  TrainStep step(net, adam, {mine.front().size(0), 2, losses, false, false, comm});
  StepRecord record;
  for (int s = 0; s < 3; ++s) {
    const LossTerms l = step.losses(mine);
    record.losses.push_back(l.total.item<double>());
    step.backward(l);
    if (s < 2) adam.step();
  }
  for (auto& p : net->parameters()) {
    record.grads.push_back(p.grad().clone());
    record.params.push_back(p.detach().clone());
  }
  return record;
}

// 2 ranks x B/2 against 1 process x B, for both contrasts and both readings of the cluster loss.
// In float64: what remains is the summation order of the gradient all-reduce.
TEST_F(DistributedTest, TwoRanksComputeTheLossesAndGradientsOfOneProcess) {
  torch::manual_seed(5);
  const DCACN reference = float64_network();
  const std::vector<torch::Tensor> views = random_views();
  for (const auto kind : {ContrastKind::kDecoupled, ContrastKind::kInfoNCE}) {
    for (const auto reading : {ClusterReading::kColumns, ClusterReading::kRows}) {
      LossOptions losses;
      losses.instance = kind;
      losses.cluster = kind;
      losses.reading = reading;
      const StepRecord one = train_steps(reference, views, losses, nullptr);
      std::vector<StepRecord> ranks(2);
      test::run_ranks(2, [&](Communicator& comm) {
        ranks[comm.rank()] = train_steps(reference, views, losses, &comm);
      });
      const std::string what = contrast_name(kind) + "/" + cluster_reading_name(reading);
      for (const StepRecord& r : ranks) {
        for (size_t s = 0; s < one.losses.size(); ++s) {
          EXPECT_NEAR(r.losses[s], one.losses[s], 1e-10 * std::abs(one.losses[s])) << what;
        }
        for (size_t i = 0; i < one.grads.size(); ++i) {
          if (one.grads[i].abs().max().item<double>() == 0) continue;
          EXPECT_LT(relative_difference(r.grads[i], one.grads[i]), 1e-10) << what << " grad " << i;
          EXPECT_LT(relative_difference(r.params[i], one.params[i]), 1e-10)
              << what << " param " << i;
        }
      }
    }
  }
}

// In training mode BatchNorm normalises each rank's shard with the shard's own statistics
// (README: no synchronised BatchNorm): 2 ranks give the loss and gradients of one process that
// runs each rank's shard through the network on its own, and not those of one process with the
// whole batch.
TEST_F(DistributedTest, InTrainingModeEachRankNormalisesItsShardWithItsOwnStatistics) {
  torch::manual_seed(7);
  const DCACN reference = float64_network();
  const std::vector<torch::Tensor> views = random_views();
  const LossOptions losses;
  auto copy = [&] {
    DCACN net(std::dynamic_pointer_cast<DCACNImpl>(reference->clone()));
    net->train();
    return net;
  };
  auto grads_of = [](DCACN& net) {
    std::vector<torch::Tensor> g;
    for (auto& p : net->parameters())
      g.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
    return g;
  };
  // One process, each rank's shard on its own: the views of one size of a shard go through the
  // network together, as TrainStep sends them; outputs are put back in rank order.
  auto one_process = [&](int world) {
    DCACN net = copy();
    std::vector<std::vector<torch::Tensor>> h(4), p(4);
    for (int r = 0; r < world; ++r) {
      for (const std::vector<int>& group : {std::vector<int>{0, 1}, std::vector<int>{2, 3}}) {
        std::vector<torch::Tensor> parts;
        for (int i : group) parts.push_back(rank_shard(views[i], r, world));
        const DCACNOutput out = net->forward(torch::cat(parts));
        const int64_t b = parts.front().size(0);
        for (size_t j = 0; j < group.size(); ++j) {
          h[group[j]].push_back(out.embedding.slice(0, j * b, (j + 1) * b));
          p[group[j]].push_back(out.probabilities.slice(0, j * b, (j + 1) * b));
        }
      }
    }
    std::vector<torch::Tensor> hs, ps;
    for (int i = 0; i < 4; ++i) {
      hs.push_back(torch::cat(h[i]));
      ps.push_back(torch::cat(p[i]));
    }
    const LossTerms l = multicrop_loss(hs, ps, 2, losses);
    l.total.backward();
    return std::make_pair(l.total.item<double>(), grads_of(net));
  };
  const auto per_shard = one_process(2), whole = one_process(1);
  std::vector<double> loss(2);
  std::vector<std::vector<torch::Tensor>> grads(2);
  test::run_ranks(2, [&](Communicator& comm) {
    DCACN net = copy();
    torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(1e-3));
    std::vector<torch::Tensor> mine;
    for (const auto& v : views) mine.push_back(rank_shard(v, comm.rank(), 2));
    TrainStep step(net, adam, {4, 2, losses, false, false, &comm});
    const LossTerms l = step.losses(mine);
    step.backward(l);
    loss[comm.rank()] = l.total.item<double>();
    grads[comm.rank()] = grads_of(net);
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_NEAR(loss[r], per_shard.first, 1e-10 * std::abs(per_shard.first));
    for (size_t i = 0; i < grads[r].size(); ++i) {
      if (per_shard.second[i].abs().max().item<double>() == 0) continue;
      EXPECT_LT(relative_difference(grads[r][i], per_shard.second[i]), 1e-10) << "grad " << i;
    }
  }
  // The whole batch's statistics give another loss: the comparison above can fail.
  EXPECT_GT(std::abs(whole.first - per_shard.first), 1e-6 * std::abs(per_shard.first));
}

// The stages of SCAN's order on 2 ranks, interrupted inside the contrastive stage, during the
// neighbour stage and inside self-labelling, resumed on 2 ranks each time: the same run as one
// never interrupted.
TEST_F(DistributedTest, TwoRanksRunEveryStageAndResumeInsideThemBitIdentically) {
  test::write_two_square_idx(path("data"), 128);
  TrainConfig c = test::tiny_train_config(path("data"));
  c.stages =
      "contrastive:steps=6,neighbours:space=pixels:k=5:heads=2:passes=3,"
      "scan:steps=4:space=pixels:k=5:guard=on,"
      "selflabel:steps=4:labels=reliable:threshold=0.5:agreement=0.6:space=features:k=5,"
      "selflabel:steps=3:threshold=0.5:quota=1";
  auto run2 = [&](const std::string& dir, bool resume, int64_t limit) {
    std::vector<TrainResult> results(2);
    test::run_rank_threads(2, [&](const DistEnv& env) {
      std::unique_ptr<Trainer> t =
          resume ? std::make_unique<Trainer>(path(dir), ResumeOverrides(), env)
                 : std::make_unique<Trainer>(c, path(dir), env);
      CommunicatorOptions options;
      options.timeout = std::chrono::seconds(60);
      t->set_distributed(env, options);
      if (limit >= 0) t->set_step_limit(limit);
      results[env.rank] = t->run();
    });
    return results;
  };
  const auto full = run2("a", false, -1);
  for (const auto& r : full) {
    EXPECT_EQ(r.status, TrainResult::Status::kBudgetReached);
    EXPECT_EQ(r.step, 17);
  }
  // Inside the contrastive stage, at the neighbour stage, inside scan, inside both
  // self-labelling stages.
  EXPECT_EQ(run2("b", false, 3)[0].status, TrainResult::Status::kInterrupted);
  EXPECT_EQ(run2("b", true, 6)[1].status, TrainResult::Status::kInterrupted);
  EXPECT_EQ(run2("b", true, 9)[0].status, TrainResult::Status::kInterrupted);
  EXPECT_EQ(run2("b", true, 13)[0].status, TrainResult::Status::kInterrupted);
  EXPECT_EQ(run2("b", true, 15)[0].status, TrainResult::Status::kInterrupted);
  EXPECT_EQ(run2("b", true, -1)[0].step, 17);
  const auto wa = load_checkpoint(path("a/checkpoints/last.pt")).model;
  const auto wb = load_checkpoint(path("b/checkpoints/last.pt")).model;
  ASSERT_EQ(wa.size(), wb.size());
  for (size_t i = 0; i < wa.size(); ++i)
    EXPECT_TRUE(wa[i].second.equal(wb[i].second)) << wa[i].first;
  // Every metrics column but the timings (wall_seconds and images_per_second: the 3rd and 8th).
  auto untimed_rows = [](const std::string& file) {
    std::ifstream in(file);
    std::vector<std::string> rows;
    for (std::string line; std::getline(in, line);) {
      std::stringstream fields(line);
      std::string kept, f;
      for (int i = 0; std::getline(fields, f, ','); ++i) {
        if (i != 2 && i != 7) kept += f + ",";
      }
      rows.push_back(kept);
    }
    return rows;
  };
  const auto ra = untimed_rows(path("a/metrics.csv"));
  EXPECT_EQ(ra.size(), 12u);  // the header and 11 rows (two of the guards)
  EXPECT_EQ(ra, untimed_rows(path("b/metrics.csv")));
  // The evaluation gathered from the shards is the one a single process makes of that model.
  TrainedModel trained = load_trained_model(path("a"), "cpu");
  const EvalResult alone =
      evaluate(*trained.model, load_dataset_for(trained), 12, 64, false, false, false);
  for (const auto& r : full) EXPECT_TRUE(torch::equal(alone.predictions, r.last_eval.predictions));
}

// A run of 2 ranks writes one run directory; it resumes on 1 rank with the global batch kept.
TEST_F(DistributedTest, ARunOfTwoRanksResumesInOne) {
  test::write_two_square_idx(path("data"), 128);
  TrainConfig c = test::tiny_train_config(path("data"));
  c.eval_batch_size = 50;  // uneven shards of the 128 images
  std::vector<TrainResult> results(2);
  test::run_rank_threads(2, [&](const DistEnv& env) {
    Trainer trainer(c, path("run"));
    CommunicatorOptions options;
    options.timeout = std::chrono::seconds(60);
    trainer.set_distributed(env, options);
    results[env.rank] = trainer.run();
  });
  for (const auto& r : results) {
    EXPECT_EQ(r.status, TrainResult::Status::kFinished);
    EXPECT_EQ(r.step, 8);  // 4 global batches of 32 per epoch
    ASSERT_TRUE(r.last_eval.has_labels);
    EXPECT_EQ(r.last_eval.predictions.size(0), 128);
  }
  TrainedModel trained = load_trained_model(path("run"), "cpu");
  EXPECT_EQ(trained.step, 8);
  // The evaluation gathered from the shards is the one a single process makes of that model.
  const EvalResult alone =
      evaluate(*trained.model, load_dataset_for(trained), 12, 64, false, false, false);
  for (const auto& r : results)
    EXPECT_TRUE(torch::equal(alone.predictions, r.last_eval.predictions));
  ResumeOverrides more;
  more.epochs = 3;
  Trainer resumed(path("run"), more);
  resumed.set_distributed(DistEnv{});
  const TrainResult r = resumed.run();
  EXPECT_EQ(r.status, TrainResult::Status::kFinished);
  EXPECT_EQ(r.step, 12);
}

}  // namespace
}  // namespace dcacn
