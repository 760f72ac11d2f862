#include <algorithm>
#include <numeric>
#include <set>

#include "../test_util.h"
#include "dcacn/cluster/neighbours.h"

namespace dcacn {
namespace {

// Brute force in float64: for each row, the k other rows of largest cosine similarity.
std::vector<std::set<int64_t>> brute_force(const torch::Tensor& x_in, int64_t k, bool centre) {
  torch::Tensor x = x_in.to(torch::kFloat64);
  if (centre) x = x - x.mean(0, true);
  const int64_t n = x.size(0);
  std::vector<std::set<int64_t>> out(n);
  for (int64_t i = 0; i < n; ++i) {
    std::vector<std::pair<double, int64_t>> sims;
    for (int64_t j = 0; j < n; ++j) {
      if (j == i) continue;
      const double s = (x[i] * x[j]).sum().item<double>() /
                       std::max(1e-300, (x[i].norm() * x[j].norm()).item<double>());
      sims.emplace_back(-s, j);
    }
    std::sort(sims.begin(), sims.end());
    for (int64_t a = 0; a < k; ++a) out[i].insert(sims[a].second);
  }
  return out;
}

TEST(Neighbours, MatchBruteForceAcrossChunksWithAndWithoutCentring) {
  torch::manual_seed(3);
  const torch::Tensor x = torch::rand({57, 9}) + 0.5;  // all positive: centring matters
  for (bool centre : {false, true}) {
    NeighbourOptions o;
    o.k = 5;
    o.chunk = 8;  // several chunks, the last one short
    o.centre = centre;
    const torch::Tensor nb = nearest_neighbours(x, o);
    ASSERT_EQ(nb.sizes(), (std::vector<int64_t>{57, 5}));
    const auto expected = brute_force(x, 5, centre);
    int64_t differing = 0;
    for (int64_t i = 0; i < 57; ++i) {
      std::set<int64_t> got;
      for (int64_t a = 0; a < 5; ++a) got.insert(nb[i][a].item<int64_t>());
      EXPECT_EQ(got.count(i), 0u) << "row " << i << " is its own neighbour";
      differing += got != expected[i];
    }
    EXPECT_EQ(differing, 0) << "centre " << centre;
  }
}

// The bfloat16 shortlist, ranked in float32, finds the neighbours brute force finds (the
// shortlist of 2k + 8 leaves room for bfloat16's rounding), and kFastest times the first two
// chunks, one each way, and says which it kept.
TEST(Neighbours, TheBfloat16ShortlistFindsTheFloat32Neighbours) {
  torch::manual_seed(4);
  const torch::Tensor x = torch::randn({150, 12});
  const auto expected = brute_force(x, 6, false);
  for (auto products :
       {NeighbourOptions::Products::kShortlist, NeighbourOptions::Products::kFastest}) {
    NeighbourOptions o;
    o.k = 6;
    o.chunk = 40;
    o.products = products;
    NeighbourSearch search;
    const torch::Tensor nb = nearest_neighbours(x, o, nullptr, &search);
    int64_t differing = 0;
    for (int64_t i = 0; i < 150; ++i) {
      std::set<int64_t> got;
      for (int64_t a = 0; a < 6; ++a) got.insert(nb[i][a].item<int64_t>());
      differing += got != expected[i];
    }
    EXPECT_EQ(differing, 0);
    if (products == NeighbourOptions::Products::kFastest) {
      EXPECT_GT(search.float32_seconds, 0);
      EXPECT_GT(search.shortlist_seconds, 0);
      EXPECT_EQ(search.used == NeighbourOptions::Products::kShortlist,
                search.shortlist_seconds < search.float32_seconds);
    } else {
      EXPECT_EQ(search.used, NeighbourOptions::Products::kShortlist);
    }
  }
  // Most similar first, in float32 similarities.
  NeighbourOptions o;
  o.k = 6;
  o.products = NeighbourOptions::Products::kShortlist;
  const torch::Tensor nb = nearest_neighbours(x, o);
  const torch::Tensor unit = x / x.norm(2, 1, true);
  for (int64_t i = 0; i < 150; i += 7) {
    const torch::Tensor sims = unit.index_select(0, nb[i]).matmul(unit[i]);
    for (int64_t a = 1; a < 6; ++a) EXPECT_GE(sims[a - 1].item<float>(), sims[a].item<float>());
  }
}

TEST(Neighbours, MostSimilarFirstAndScaleFree) {
  // Row 0 is closest in angle to row 2, then row 1; scaling a row changes nothing.
  const torch::Tensor x = torch::tensor({{1.0f, 0.0f}, {1.0f, 1.0f}, {10.0f, 1.0f}, {0.0f, 1.0f}});
  NeighbourOptions o;
  o.k = 3;
  const torch::Tensor nb = nearest_neighbours(x, o);
  EXPECT_EQ(nb[0][0].item<int64_t>(), 2);
  EXPECT_EQ(nb[0][1].item<int64_t>(), 1);
  EXPECT_EQ(nb[0][2].item<int64_t>(), 3);
}

// Rows that vary in 4 directions of 40: their first 4 principal components keep every centred
// cosine similarity, so the neighbours mined on them are the brute-force ones; the components
// come out in order of variance, and narrower rows are only centred.
TEST(Neighbours, PrincipalComponentsKeepTheSimilaritiesOfRowsThatVaryInFewDirections) {
  torch::manual_seed(5);
  const torch::Tensor basis = torch::randn({4, 40});
  const torch::Tensor scale = torch::tensor({4.0f, 3.0f, 2.0f, 1.0f}).unsqueeze(0);
  const torch::Tensor x = torch::matmul(torch::randn({60, 4}) * scale, basis) + 7.0;
  const torch::Tensor pc = principal_components(x, 4);
  ASSERT_EQ(pc.sizes(), (std::vector<int64_t>{60, 4}));
  const torch::Tensor variance = pc.var(0);
  for (int64_t c = 1; c < 4; ++c) {
    EXPECT_GT(variance[c - 1].item<float>(), variance[c].item<float>()) << c;
  }
  NeighbourOptions o;
  o.k = 6;
  const torch::Tensor nb = nearest_neighbours(pc, o);
  const auto expected = brute_force(x, 6, /*centre=*/true);
  for (int64_t i = 0; i < 60; ++i) {
    std::set<int64_t> got;
    for (int64_t a = 0; a < 6; ++a) got.insert(nb[i][a].item<int64_t>());
    EXPECT_EQ(got, expected[i]) << "row " << i;
  }
  const torch::Tensor narrow = principal_components(x.slice(1, 0, 3), 4);
  EXPECT_TRUE(
      torch::allclose(narrow, x.slice(1, 0, 3) - x.slice(1, 0, 3).mean(0, true), 1e-5, 1e-5));
  EXPECT_THROW(principal_components(x, 0), c10::Error);
}

// Whitened components have unit variance and no correlation; directions without variance
// (rows that vary in 4 directions of 40) are left out; the result is the data in another basis
// (its pairwise Mahalanobis distances are kept), and dims caps the components kept.
TEST(Neighbours, WhitenedComponentsAreUncorrelatedWithUnitVariance) {
  torch::manual_seed(6);
  const torch::Tensor basis = torch::randn({4, 40}, torch::kFloat64);
  const torch::Tensor scale = torch::tensor({20.0, 3.0, 2.0, 0.5}, torch::kFloat64).unsqueeze(0);
  const torch::Tensor x = torch::matmul(torch::randn({200, 4}, torch::kFloat64) * scale, basis);
  const torch::Tensor w = whitened_components(x.to(torch::kFloat32), 16).to(torch::kFloat64);
  ASSERT_EQ(w.sizes(), (std::vector<int64_t>{200, 4}));
  const torch::Tensor covariance = torch::mm(w.t(), w) / 200.0;
  EXPECT_TRUE(torch::allclose(covariance, torch::eye(4, torch::kFloat64), 1e-3, 1e-3))
      << covariance;
  // Whitening is a linear map of the centred rows: the same on every row, so a row's whitened
  // image is a fixed combination of the first rows' (the 4-dimensional span is kept).
  const torch::Tensor centred = x - x.mean(0, true);
  const torch::Tensor map = std::get<0>(torch::linalg_lstsq(centred, w));
  EXPECT_TRUE(torch::allclose(torch::mm(centred, map), w, 1e-3, 1e-3));
  EXPECT_EQ(whitened_components(x.to(torch::kFloat32), 2).size(1), 2);
  EXPECT_THROW(whitened_components(x, 0), c10::Error);
}

TEST(Neighbours, RefusesKOutsideRange) {
  NeighbourOptions o;
  o.k = 4;
  EXPECT_THROW(nearest_neighbours(torch::rand({4, 3}), o), c10::Error);
  o.k = 0;
  EXPECT_THROW(nearest_neighbours(torch::rand({4, 3}), o), c10::Error);
}

}  // namespace
}  // namespace dcacn
