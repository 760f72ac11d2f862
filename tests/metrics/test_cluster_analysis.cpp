#include "../test_util.h"
#include "dcacn/metrics/cluster_analysis.h"

namespace dcacn {
namespace {

torch::Tensor ints(const std::vector<int64_t>& v) { return torch::tensor(v, torch::kInt64); }

TEST(ClusterAnalysis, HandWorkedExample) {
  // 3 classes, K = 4 clusters (one empty, cluster 3).
  //   class 0: clusters 2 2 2 1      class 1: clusters 0 0 0 0 2      class 2: clusters 1 1 1
  const torch::Tensor labels = ints({0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2});
  const torch::Tensor pred = ints({2, 2, 2, 1, 0, 0, 0, 0, 2, 1, 1, 1});
  const ClusterAnalysis a = analyze_clusters(pred, 4, labels);
  EXPECT_EQ(a.sizes, (std::vector<int64_t>{4, 4, 4, 0}));
  EXPECT_EQ(a.empty_clusters, 1);
  EXPECT_NEAR(a.size_entropy, std::log(3.0) / std::log(4.0), 1e-12);
  EXPECT_EQ(a.classes, 3);
  EXPECT_EQ(a.count(0, 2), 3);
  EXPECT_EQ(a.count(1, 2), 1);
  EXPECT_EQ(a.majority_class, (std::vector<int64_t>{1, 2, 0, -1}));
  EXPECT_NEAR(a.purity[0], 1.0, 1e-12);
  EXPECT_NEAR(a.purity[1], 0.75, 1e-12);
  EXPECT_NEAR(a.purity[2], 0.75, 1e-12);
  EXPECT_EQ(a.purity[3], 0.0);
  // Matching: cluster 2 -> class 0, cluster 0 -> class 1, cluster 1 -> class 2; 3 unmatched.
  EXPECT_EQ(a.matched_class, (std::vector<int64_t>{1, 2, 0, -1}));
  EXPECT_EQ(a.order, (std::vector<int64_t>{2, 0, 1, 3}));
  EXPECT_NEAR(a.scores.acc, 10.0 / 12.0, 1e-12);
  EXPECT_NEAR(a.majority_accuracy, 10.0 / 12.0, 1e-12);
  const nlohmann::json j = a.to_json({"zero", "one", "two"});
  EXPECT_EQ(j["confusion"]["counts"][0], nlohmann::json({3, 0, 1, 0}));  // class 0, order 2 0 1 3
  EXPECT_EQ(j["per_cluster"][2]["majority_class"], "zero");
  EXPECT_NE(a.to_text({}).find("majority-vote ACC 0.8333"), std::string::npos);
}

TEST(ClusterAnalysis, OverClusteringIsJudgedByMajorityVote) {
  // Every class split evenly over two pure clusters: Hungarian ACC counts only one of each
  // pair as right, majority vote counts all.
  const torch::Tensor labels = ints({0, 0, 0, 0, 1, 1, 1, 1});
  const torch::Tensor pred = ints({0, 0, 1, 1, 2, 2, 3, 3});
  const ClusterAnalysis a = analyze_clusters(pred, 4, labels);
  EXPECT_NEAR(a.scores.acc, 0.5, 1e-12);
  EXPECT_NEAR(a.majority_accuracy, 1.0, 1e-12);
  EXPECT_EQ(std::count(a.matched_class.begin(), a.matched_class.end(), -1), 2);
  EXPECT_NEAR(a.size_entropy, 1.0, 1e-12);
}

TEST(ClusterAnalysis, WithoutLabelsOnlySizes) {
  const ClusterAnalysis a = analyze_clusters(ints({1, 1, 1, 0}), 3, torch::Tensor());
  EXPECT_FALSE(a.has_labels);
  EXPECT_EQ(a.sizes, (std::vector<int64_t>{1, 3, 0}));
  EXPECT_FALSE(a.to_json({}).contains("acc"));
  EXPECT_THROW(analyze_clusters(ints({0, 3}), 3, torch::Tensor()), std::exception);
  EXPECT_THROW(analyze_clusters(ints({0, 1}), 3, ints({0})), std::exception);
}

}  // namespace
}  // namespace dcacn
