#include <algorithm>
#include <cmath>

#include "../test_util.h"
#include "dcacn/cluster/neighbours.h"
#include "dcacn/metrics/metrics.h"
#include "dcacn/train/neighbour_head.h"

namespace dcacn {
namespace {

TEST(NeighbourHead, LossFollowsItsDefinition) {
  const torch::Tensor a = torch::tensor({{0.7, 0.2, 0.1}, {0.1, 0.1, 0.8}}, torch::kFloat64);
  const torch::Tensor b = torch::tensor({{0.6, 0.3, 0.1}, {0.3, 0.3, 0.4}}, torch::kFloat64);
  const NeighbourLoss l = neighbour_loss(a, b, 2.0);
  const double d0 = 0.7 * 0.6 + 0.2 * 0.3 + 0.1 * 0.1, d1 = 0.1 * 0.3 + 0.1 * 0.3 + 0.8 * 0.4;
  const double consistency = -(std::log(d0) + std::log(d1)) / 2;
  const double m[3] = {0.4, 0.15, 0.45};
  double entropy = 0;
  for (double v : m) entropy -= v * std::log(v);
  EXPECT_NEAR(l.consistency.item<double>(), consistency, 1e-12);
  EXPECT_NEAR(l.entropy.item<double>(), entropy, 1e-12);
  EXPECT_NEAR(l.total.item<double>(), consistency - 2.0 * entropy, 1e-12);
}

// Three groups of points whose features hold the grouping only in three weak dimensions, while
// five strong ones carry another, unrelated grouping (what k-means on the features would find),
// with neighbours that follow the first grouping: the heads must learn it from the neighbours.
struct Blobs {
  torch::Tensor features, neighbours, labels;
};
Blobs blobs() {
  torch::manual_seed(11);
  const int64_t n = 180, groups = 3;
  const torch::Tensor labels = torch::arange(groups).repeat_interleave(n / groups);
  const torch::Tensor weak =
      torch::eye(groups).index_select(0, labels) + torch::randn({n, groups}) * 0.1;
  const torch::Tensor distractor = torch::randint(groups, {n}, torch::kInt64);
  const torch::Tensor strong =
      (torch::randn({groups, 5}) * 3).index_select(0, distractor) + torch::randn({n, 5});
  // Neighbours from a clean view of the same images (their group plus a little noise).
  const torch::Tensor clean =
      torch::eye(groups).index_select(0, labels) * 10 + torch::randn({n, groups}) * 0.1;
  NeighbourOptions o;
  o.k = 10;
  return {torch::cat({weak, strong}, 1), nearest_neighbours(clean, o), labels};
}

TEST(NeighbourHead, LearnsTheGroupingThatTheNeighboursCarry) {
  const Blobs b = blobs();
  NeighbourHeadOptions o;
  o.heads(3);
  o.epochs(100);
  o.batch_size(60);
  o.lr(1e-2);
  o.seed(5);
  int64_t calls = 0;
  NeighbourHeadResult r = train_neighbour_heads(b.features, b.neighbours, ClusterHeadOptions(8, 3),
                                                o, [&](int64_t done, int64_t all) {
                                                  EXPECT_EQ(all, 100);
                                                  EXPECT_EQ(done, ++calls);
                                                  return true;
                                                });
  EXPECT_EQ(calls, 100);
  ASSERT_EQ(r.total.size(), 3u);
  torch::NoGradGuard no_grad;
  // The kept head's losses, recomputed in float64 from the head returned, over every image and
  // every one of its neighbours: the figures reported are the returned head's, and the lowest.
  const torch::Tensor p = r.head->forward(b.features).to(torch::kFloat64);
  const torch::Tensor pair_agreement =
      (p.unsqueeze(1) * p.index_select(0, b.neighbours.flatten()).view({180, 10, 3})).sum(2);
  const double consistency = -pair_agreement.log().mean().item<double>();
  const torch::Tensor m = p.mean(0);
  const double entropy = -(m * m.log()).sum().item<double>();
  EXPECT_NEAR(r.consistency[r.chosen], consistency, 1e-5);
  EXPECT_NEAR(r.entropy[r.chosen], entropy, 1e-5);
  EXPECT_NEAR(r.total[r.chosen], consistency - 5.0 * entropy, 5e-5);
  EXPECT_EQ(*std::min_element(r.total.begin(), r.total.end()), r.total[r.lowest_loss]);
  const torch::Tensor predicted = p.argmax(1);
  const ClusteringScores s = score_clustering(b.labels, predicted);
  EXPECT_GT(s.acc, 0.95);
  EXPECT_GT(r.entropy[r.chosen], std::log(3.0) - 0.05);  // all three clusters in use

  // The same heads with neighbours drawn at random learn no such grouping: it came from the
  // neighbours, not from the features.
  const torch::Tensor random_neighbours = torch::randint(180, {180, 10}, torch::kInt64);
  NeighbourHeadResult blind =
      train_neighbour_heads(b.features, random_neighbours, ClusterHeadOptions(8, 3), o);
  const ClusteringScores s_blind =
      score_clustering(b.labels, blind.head->forward(b.features).argmax(1));
  EXPECT_LT(s_blind.acc, 0.8);
}

// keep=consensus keeps the head whose clusters agree most with the other heads' (mean ARI,
// recomputed here from each head's clusters), keep=loss the lowest-loss one; the heads are the
// same either way.
TEST(NeighbourHead, TheConsensusHeadAgreesMostWithTheOtherHeads) {
  const Blobs b = blobs();
  NeighbourHeadOptions o;
  o.heads(5).epochs(3).batch_size(60).lr(1e-2).seed(8);
  const NeighbourHeadResult consensus =
      train_neighbour_heads(b.features, b.neighbours, ClusterHeadOptions(8, 3), o);
  const NeighbourHeadResult loss = train_neighbour_heads(
      b.features, b.neighbours, ClusterHeadOptions(8, 3), o.keep(HeadChoice::kLowestLoss));
  ASSERT_EQ(consensus.agreement.size(), 5u);
  EXPECT_EQ(consensus.total, loss.total);
  EXPECT_EQ(consensus.agreement, loss.agreement);
  EXPECT_EQ(loss.chosen, loss.lowest_loss);
  EXPECT_EQ(consensus.lowest_loss, loss.lowest_loss);
  EXPECT_EQ(std::min_element(loss.total.begin(), loss.total.end()) - loss.total.begin(),
            loss.lowest_loss);
  double best = -2;
  for (double x : consensus.agreement) best = std::max(best, x);
  EXPECT_EQ(consensus.agreement[consensus.chosen], best);
  // The agreement is the mean ARI with the other heads: two clusterings equal up to their
  // cluster names agree fully, and a third is scored against both.
  const std::vector<int64_t> x{0, 0, 1, 1, 2, 2}, renamed{2, 2, 0, 0, 1, 1},
      other{0, 1, 0, 1, 2, 2};
  const std::vector<double> agreement = head_agreement({x, renamed, other});
  const double third = adjusted_rand_index(x, other);
  ASSERT_EQ(agreement.size(), 3u);
  EXPECT_NEAR(agreement[0], (1.0 + third) / 2, 1e-12);
  EXPECT_NEAR(agreement[1], (1.0 + third) / 2, 1e-12);
  EXPECT_NEAR(agreement[2], third, 1e-12);
  EXPECT_EQ(head_agreement({x}), std::vector<double>{1.0});
  EXPECT_EQ(parse_head_choice("consensus", "--x"), HeadChoice::kConsensus);
  EXPECT_EQ(head_choice_name(parse_head_choice("loss", "--x")), "loss");
  test::expect_error_containing([] { parse_head_choice("vote", "--x"); },
                                {"--x must be consensus or loss, got vote"});
}

// The batched heads are the heads trained one after the other (the reference path): the same
// initial draws, the same batches, the same updates, up to float rounding of the products.
TEST(NeighbourHead, BatchedHeadsAreTheHeadsTrainedOneAfterTheOther) {
  const Blobs b = blobs();
  NeighbourHeadOptions o;
  o.heads(4).epochs(6).batch_size(32).lr(1e-2).seed(3);
  const NeighbourHeadResult batched =
      train_neighbour_heads(b.features, b.neighbours, ClusterHeadOptions(8, 3), o);
  o.batched(false);
  const NeighbourHeadResult reference =
      train_neighbour_heads(b.features, b.neighbours, ClusterHeadOptions(8, 3), o);
  EXPECT_EQ(batched.chosen, reference.chosen);
  ASSERT_EQ(batched.total.size(), 4u);
  for (size_t h = 0; h < 4; ++h) {
    EXPECT_NEAR(batched.total[h], reference.total[h], 1e-4) << "head " << h;
    EXPECT_NEAR(batched.consistency[h], reference.consistency[h], 1e-4) << "head " << h;
  }
  ASSERT_EQ(batched.epoch_consistency.size(), 6u);
  for (size_t e = 0; e < 6; ++e) {
    EXPECT_NEAR(batched.epoch_consistency[e], reference.epoch_consistency[e], 1e-4);
  }
  const auto p = batched.head->parameters(), q = reference.head->parameters();
  ASSERT_EQ(p.size(), q.size());
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_TRUE(torch::allclose(p[i], q[i], 1e-4, 1e-5)) << "parameter " << i;
  }
}

// bf16 products train float32 heads (Adam updates float32 masters) that learn the grouping as
// the float32 products do. Over a few passes their losses follow the float32 heads' to the
// products' rounding; the rounding does change the products (the weights are not bitwise the
// same). Over many passes the two paths drift apart as any two runs of SGD do, so the long run
// is held to the grouping only.
TEST(NeighbourHead, Bf16ProductsTrainFloat32HeadsThatLearnTheSameGrouping) {
  const Blobs b = blobs();
  NeighbourHeadOptions o;
  o.heads(3).epochs(4).batch_size(60).lr(1e-2).seed(5);
  const NeighbourHeadResult fp32 =
      train_neighbour_heads(b.features, b.neighbours, ClusterHeadOptions(8, 3), o);
  o.bf16(true);
  const NeighbourHeadResult bf16 =
      train_neighbour_heads(b.features, b.neighbours, ClusterHeadOptions(8, 3), o);
  ASSERT_EQ(bf16.consistency.size(), 3u);
  for (size_t h = 0; h < 3; ++h) {
    EXPECT_NEAR(bf16.consistency[h], fp32.consistency[h], 0.01) << "head " << h;
  }
  ASSERT_EQ(bf16.epoch_consistency.size(), 4u);
  for (size_t e = 0; e < 4; ++e) {
    EXPECT_NEAR(bf16.epoch_consistency[e], fp32.epoch_consistency[e], 0.01) << "pass " << e;
  }
  bool differ = false;
  const auto p = bf16.head->parameters(), q = fp32.head->parameters();
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_EQ(p[i].scalar_type(), torch::kFloat32);
    differ = differ || !torch::equal(p[i], q[i]);
  }
  EXPECT_TRUE(differ);

  o.epochs(100);
  NeighbourHeadResult learnt =
      train_neighbour_heads(b.features, b.neighbours, ClusterHeadOptions(8, 3), o);
  torch::NoGradGuard no_grad;
  EXPECT_GT(score_clustering(b.labels, learnt.head->forward(b.features).argmax(1)).acc, 0.95);
}

// With a patience, training ends after that many passes in a row that did not lower the mean
// consistency by the tolerance; without one, every pass runs.
TEST(NeighbourHead, TheStoppingRuleEndsOnceAPassNoLongerHelps) {
  const Blobs b = blobs();
  NeighbourHeadOptions o;
  o.heads(2).epochs(150).batch_size(60).lr(1e-2).seed(5).patience(2).tolerance(0.01);
  const NeighbourHeadResult r =
      train_neighbour_heads(b.features, b.neighbours, ClusterHeadOptions(8, 3), o);
  ASSERT_LT(r.epochs, 150);
  ASSERT_GE(r.epochs, 3);
  ASSERT_EQ(static_cast<int64_t>(r.epoch_consistency.size()), r.epochs);
  const std::vector<double>& c = r.epoch_consistency;
  const double best_before = *std::min_element(c.begin(), c.end() - 2);
  EXPECT_GE(c[c.size() - 1], best_before * 0.99);
  EXPECT_GE(c[c.size() - 2], best_before * 0.99);
  o.patience(0);
  EXPECT_EQ(train_neighbour_heads(b.features, b.neighbours, ClusterHeadOptions(8, 3), o).epochs,
            150);
}

// A caller's progress function that returns false (its time budget) ends the passes there: the
// heads are those of a run with that many passes, and the result says who ended it.
TEST(NeighbourHead, TheCallerCanEndThePassesEarly) {
  const Blobs b = blobs();
  NeighbourHeadOptions o;
  o.heads(2).epochs(10).batch_size(60).lr(1e-2).seed(5);
  const NeighbourHeadResult ended =
      train_neighbour_heads(b.features, b.neighbours, ClusterHeadOptions(8, 3), o,
                            [](int64_t done, int64_t) { return done < 3; });
  EXPECT_EQ(ended.epochs, 3);
  EXPECT_TRUE(ended.ended_by_caller);
  o.epochs(3);
  const NeighbourHeadResult three =
      train_neighbour_heads(b.features, b.neighbours, ClusterHeadOptions(8, 3), o);
  EXPECT_FALSE(three.ended_by_caller);
  EXPECT_EQ(ended.total, three.total);
  EXPECT_TRUE(torch::equal(ended.head->parameters()[0], three.head->parameters()[0]));
  // false after the last pass ends nothing early.
  const NeighbourHeadResult last =
      train_neighbour_heads(b.features, b.neighbours, ClusterHeadOptions(8, 3), o,
                            [](int64_t done, int64_t all) { return done < all; });
  EXPECT_EQ(last.epochs, 3);
  EXPECT_FALSE(last.ended_by_caller);
}

TEST(NeighbourHead, SameSeedSameHeadsOtherSeedOtherHeads) {
  const Blobs b = blobs();
  NeighbourHeadOptions o;
  o.heads(2);
  o.epochs(3);
  o.batch_size(32);
  auto run = [&](uint64_t seed) {
    o.seed(seed);
    return train_neighbour_heads(b.features, b.neighbours, ClusterHeadOptions(8, 3), o);
  };
  const NeighbourHeadResult a = run(1), again = run(1), other = run(2);
  EXPECT_EQ(a.total, again.total);
  EXPECT_TRUE(torch::equal(a.head->parameters()[0], again.head->parameters()[0]));
  EXPECT_NE(a.total, other.total);
}

// The estimate of a stage's head training runs its steps on random rows of the stage's size
// (more rows than the batches it times, as in a real stage) and grows with the passes.
TEST(NeighbourHead, TheTimeEstimateRunsOnTablesLargerThanItsBatches) {
  NeighbourHeadOptions o;
  o.heads(2).batch_size(16).epochs(1);
  const double one = neighbour_heads_seconds(ClusterHeadOptions(8, 3), o, 1000, 5, torch::kCPU);
  EXPECT_GT(one, 0);
  o.epochs(200);
  const double many = neighbour_heads_seconds(ClusterHeadOptions(8, 3), o, 1000, 5, torch::kCPU);
  EXPECT_GT(many, one);
}

TEST(NeighbourHead, RefusesMismatchedShapes) {
  NeighbourHeadOptions o;
  EXPECT_THROW(train_neighbour_heads(torch::rand({10, 4}), torch::zeros({9, 2}, torch::kInt64),
                                     ClusterHeadOptions(4, 2), o),
               c10::Error);
  EXPECT_THROW(train_neighbour_heads(torch::rand({10, 5}), torch::zeros({10, 2}, torch::kInt64),
                                     ClusterHeadOptions(4, 2), o),
               c10::Error);
}

}  // namespace
}  // namespace dcacn
