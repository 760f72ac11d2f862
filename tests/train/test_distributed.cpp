// Data-parallel training against one process: the same losses and gradients over the global
// batch, and runs that continue with another number of ranks.
#include <torch/optim/adam.h>

#include "../dist/dist_util.h"
#include "../test_util.h"
#include "dcacn/infer/inference.h"
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
  DCACN reference(DCACNOptions().depth(18).width(4).in_channels(1).image_size(12).clusters(3));
  reference->to(torch::kFloat64);
  const auto f64 = torch::kFloat64;
  const std::vector<torch::Tensor> views = {
      torch::rand({8, 1, 12, 12}, f64), torch::rand({8, 1, 12, 12}, f64),
      torch::rand({8, 1, 6, 6}, f64), torch::rand({8, 1, 6, 6}, f64)};
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
          EXPECT_NEAR(r.losses[s], one.losses[s], 1e-5 * std::abs(one.losses[s])) << what;
        }
        for (size_t i = 0; i < one.grads.size(); ++i) {
          if (one.grads[i].abs().max().item<double>() == 0) continue;
          EXPECT_LT(relative_difference(r.grads[i], one.grads[i]), 1e-5) << what << " grad " << i;
          EXPECT_LT(relative_difference(r.params[i], one.params[i]), 1e-5)
              << what << " param " << i;
        }
      }
    }
  }
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
  EXPECT_TRUE(torch::equal(results[0].last_eval.predictions, results[1].last_eval.predictions));
  TrainedModel trained = load_trained_model(path("run"), "cpu");
  EXPECT_EQ(trained.step, 8);
  // The evaluation gathered from the shards is the one a single process makes of that model.
  const EvalResult alone =
      evaluate(*trained.model, load_dataset_for(trained), 12, 64, false, false, false);
  EXPECT_TRUE(torch::equal(alone.predictions, results[0].last_eval.predictions));
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
