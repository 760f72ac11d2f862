#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "dcacn/metrics/metrics.h"

namespace dcacn {
namespace {

// Agreement required with scikit-learn (issue: 1e-9).
constexpr double kTol = 1e-9;

TEST(Metrics, HandComputedSmallExample) {
  // y = [0 0 1 1], c = [0 0 1 2]. Best matching: cluster 0 -> class 0 (2), 1 -> 1 (1): 3/4.
  // c determines y, so I = H(y) = ln 2; H(c) = 1.5 ln 2; NMI = ln 2 / (1.25 ln 2) = 0.8.
  // Pairs: sum C(n_ij, 2) = 1, rows 2, columns 1, C(4, 2) = 6: expected 1/3, max 1.5,
  // ARI = (1 - 1/3) / (1.5 - 1/3) = 4/7.
  const std::vector<int64_t> y = {0, 0, 1, 1}, c = {0, 0, 1, 2};
  const ClusteringScores s = score_clustering(y, c);
  EXPECT_NEAR(s.acc, 0.75, kTol);
  EXPECT_NEAR(s.nmi, 0.8, kTol);
  EXPECT_NEAR(s.ari, 4.0 / 7.0, kTol);
  EXPECT_EQ(s.classes, 2);
  EXPECT_EQ(s.clusters, 3);
}

TEST(Metrics, ContingencyTableUsesSortedDistinctValues) {
  const Contingency t = contingency_table({5, 5, -1, 5}, {10, 3, 3, 3});
  EXPECT_EQ(t.classes, (std::vector<int64_t>{-1, 5}));
  EXPECT_EQ(t.clusters, (std::vector<int64_t>{3, 10}));
  EXPECT_EQ(t.counts, (std::vector<int64_t>{1, 0, 2, 1}));
  EXPECT_THROW(contingency_table({1, 2}, {1}), std::exception);
}

TEST(Metrics, PerfectAndPermutedLabelingsScoreOne) {
  const std::vector<int64_t> y = {0, 0, 1, 1, 2, 2, 2};
  const std::vector<int64_t> c = {7, 7, 3, 3, 9, 9, 9};
  const ClusteringScores s = score_clustering(y, c);
  EXPECT_NEAR(s.acc, 1.0, kTol);
  EXPECT_NEAR(s.nmi, 1.0, kTol);
  EXPECT_NEAR(s.ari, 1.0, kTol);
}

TEST(Metrics, TensorFrontEndAgreesWithVectors) {
  torch::Tensor y = torch::tensor({0, 1, 1, 2, 2, 2}, torch::kInt64);
  torch::Tensor c = torch::tensor({1, 1, 0, 2, 2, 0}, torch::kInt32);
  const ClusteringScores a = score_clustering(y, c);
  const ClusteringScores b = score_clustering({0, 1, 1, 2, 2, 2}, {1, 1, 0, 2, 2, 0});
  EXPECT_EQ(a.acc, b.acc);
  EXPECT_EQ(a.nmi, b.nmi);
  EXPECT_EQ(a.ari, b.ari);
  EXPECT_THROW(score_clustering(y.to(torch::kFloat32), c), std::exception);
}

// Every case of tests/reference/metrics_sklearn.json, computed by scikit-learn and scipy.
TEST(Metrics, AgreeWithRecordedScikitLearnOutputs) {
  std::ifstream in(std::string(DCACN_TEST_DATA_DIR) + "/metrics_sklearn.json");
  ASSERT_TRUE(in) << "missing tests/reference/metrics_sklearn.json";
  const nlohmann::json ref = nlohmann::json::parse(in);
  ASSERT_GE(ref["cases"].size(), 20u);
  for (const auto& c : ref["cases"]) {
    const auto y = c["labels_true"].get<std::vector<int64_t>>();
    const auto p = c["labels_pred"].get<std::vector<int64_t>>();
    const ClusteringScores s = score_clustering(y, p);
    const std::string name = c["name"];
    EXPECT_NEAR(s.acc, c["acc"].get<double>(), kTol) << name;
    EXPECT_NEAR(s.nmi, c["nmi"].get<double>(), kTol) << name;
    EXPECT_NEAR(s.ari, c["ari"].get<double>(), kTol) << name;
  }
}

TEST(Metrics, LargeInputsDoNotOverflowTheAri) {
  // 200,000 samples: n^2 products exceed 64 bits inside the ARI; a clustering that splits
  // each of two balanced classes in half has a closed form:
  // sum C(n_ij,2) = 4 C(m,2) with m = n/4, rows 2 C(2m,2), columns likewise.
  const int64_t n = 200000, m = n / 4;
  std::vector<int64_t> y(n), c(n);
  for (int64_t i = 0; i < n; ++i) {
    y[i] = i < n / 2 ? 0 : 1;
    c[i] = i / m;
  }
  auto choose2 = [](double k) { return k * (k - 1) / 2; };
  const double index = 4 * choose2(m), rows = 2 * choose2(2 * m), cols = 4 * choose2(m);
  const double expected = rows * cols / choose2(n);
  const double ari = (index - expected) / (0.5 * (rows + cols) - expected);
  EXPECT_NEAR(adjusted_rand_index(y, c), ari, 1e-9);
  EXPECT_NEAR(clustering_accuracy(y, c), 0.5, kTol);
}

}  // namespace
}  // namespace dcacn
