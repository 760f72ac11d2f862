#include <stdlib.h>

#include "../test_util.h"
#include "dcacn/util/error.h"
#include "dist_util.h"

namespace dcacn {
namespace {

using test::expect_error_containing;
using test::run_ranks;

class CommunicatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_gloo()) GTEST_SKIP() << "this build has no Gloo";
  }
};

TEST(DistEnvTest, ReadsTorchrunsVariablesAndNamesABadOne) {
  for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) {
    unsetenv(name);
  }
  EXPECT_FALSE(dist_env_from_environment().distributed());
  setenv("RANK", "1", 1);
  setenv("WORLD_SIZE", "4", 1);
  setenv("LOCAL_RANK", "1", 1);
  setenv("MASTER_ADDR", "10.0.0.2", 1);
  setenv("MASTER_PORT", "29555", 1);
  const DistEnv env = dist_env_from_environment();
  EXPECT_EQ(env.rank, 1);
  EXPECT_EQ(env.world_size, 4);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "10.0.0.2");
  EXPECT_EQ(env.master_port, 29555);
  setenv("RANK", "4", 1);
  expect_error_containing([] { dist_env_from_environment(); }, {"RANK='4'", "[0, 3]"});
  setenv("RANK", "0", 1);
  setenv("MASTER_PORT", "http", 1);
  expect_error_containing([] { dist_env_from_environment(); }, {"MASTER_PORT='http'"});
  unsetenv("WORLD_SIZE");
  expect_error_containing([] { dist_env_from_environment(); }, {"RANK but not WORLD_SIZE"});
  for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) {
    unsetenv(name);
  }
}

TEST(RankShardTest, TheShardsInRankOrderAreTheGlobalBatch) {
  const torch::Tensor index = torch::randperm(24);
  for (int world : {1, 2, 3, 4}) {
    std::vector<torch::Tensor> parts;
    for (int r = 0; r < world; ++r) {
      parts.push_back(rank_shard(index, r, world));
      EXPECT_EQ(parts.back().size(0), 24 / world);
    }
    EXPECT_TRUE(torch::equal(torch::cat(parts), index)) << world << " ranks";
  }
  EXPECT_THROW(rank_shard(index, 0, 5), c10::Error);
}

TEST_F(CommunicatorTest, CollectivesAgreeWithTheirDefinitions) {
  run_ranks(3, [](Communicator& comm) {
    const int r = comm.rank();
    // Means in small buckets (several all-reduces), of two dtypes.
    std::vector<torch::Tensor> tensors = {torch::full({5}, r + 1.0), torch::full({3, 2}, 10.0 * r),
                                          torch::full({2}, 2.0 * r, torch::kFloat64)};
    comm.all_reduce_mean(tensors, /*bucket_bytes=*/24);
    EXPECT_TRUE(torch::allclose(tensors[0], torch::full({5}, 2.0)));
    EXPECT_TRUE(torch::allclose(tensors[1], torch::full({3, 2}, 10.0)));
    EXPECT_TRUE(torch::allclose(tensors[2], torch::full({2}, 2.0, torch::kFloat64)));
    torch::Tensor b = torch::full({4}, static_cast<double>(r));
    comm.broadcast({b}, 2);
    EXPECT_TRUE(torch::equal(b, torch::full({4}, 2.0)));
    // Rows of differing counts: rank r gives r + 1 rows of value r.
    const torch::Tensor rows = comm.all_gather_rows(torch::full({r + 1, 2}, r, torch::kInt64));
    EXPECT_TRUE(torch::equal(rows.select(1, 0), torch::tensor({0, 1, 1, 2, 2, 2})));
    EXPECT_GT(comm.stats().calls, 5);
  });
}

// Each rank's loss is a different function of the gathered rows; the gradient each rank gets
// for its own rows is that of the sum of all ranks' losses, as one process computes it.
TEST_F(CommunicatorTest, TheGathersGradientReturnsToTheRankThatGaveTheRows) {
  const int world = 2;
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({world * 3, 4}, torch::kFloat64);
  const torch::Tensor w = torch::randn({world * 3, 4}, torch::kFloat64);
  auto loss_of_rank = [&](const torch::Tensor& all, int r) {
    return (all * w).sum() * (r + 1) + all.pow(2).sum() * r + all.prod(1).sum();
  };
  torch::Tensor reference = x.clone().requires_grad_(true);
  torch::Tensor total = torch::zeros({}, torch::kFloat64);
  for (int r = 0; r < world; ++r) total = total + loss_of_rank(reference, r);
  total.backward();
  run_ranks(world, [&](Communicator& comm) {
    const int r = comm.rank();
    torch::Tensor mine = rank_shard(x, r, world).clone().requires_grad_(true);
    const torch::Tensor all = all_gather_with_grad(mine, comm);
    EXPECT_TRUE(torch::equal(all.detach(), x));
    loss_of_rank(all, r).backward();
    EXPECT_TRUE(torch::allclose(mine.grad(), rank_shard(reference.grad(), r, world), 1e-12, 1e-12));
  });
}

TEST_F(CommunicatorTest, RanksThatDisagreeAllStopWithTheDifference) {
  std::atomic<int> refused{0};
  run_ranks(2, [&](Communicator& comm) {
    comm.check_same("settings", "a\nsame\n");
    try {
      comm.check_same("configuration", comm.rank() == 0 ? "x\nlr 0.001\n" : "x\nlr 0.002\n");
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("rank 0 has lr 0.001, rank 1 has lr 0.002"),
                std::string::npos)
          << e.what();
      ++refused;
    }
  });
  EXPECT_EQ(refused.load(), 2);
}

TEST_F(CommunicatorTest, APortInUseIsNamed) {
  const int port = free_port();
  CommunicatorOptions options;
  options.timeout = std::chrono::seconds(5);
  // A one-rank "run" holding the port, then a second rank 0 asking for it.
  std::unique_ptr<Communicator> holder;
  std::thread first([&] {
    DistEnv env = test::local_env(0, 2, port);
    try {
      holder = std::make_unique<Communicator>(env, torch::kCPU, options);
    } catch (const std::exception&) {  // nobody joins it: it times out
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  expect_error_containing(
      [&] { Communicator second(test::local_env(0, 2, port), torch::kCPU, options); },
      {"MASTER_PORT " + std::to_string(port), "in use"});
  first.join();
}

}  // namespace
}  // namespace dcacn
