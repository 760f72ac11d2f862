#include "../test_util.h"
#include "dcacn/io/predictions.h"

namespace dcacn {
namespace {

using test::expect_error_containing;

class PredictionsTest : public test::TempDirTest {};

TEST_F(PredictionsTest, RoundTripWithLabelsAndAwkwardPaths) {
  const std::vector<std::string> paths = {"a/plain.png", "b/with,comma.png", "c/\"quoted\".jpg",
                                          "d/line\nbreak.png"};
  write_predictions_csv(path("p.csv"), torch::tensor({3, 0, 1, 3}), torch::tensor({1, 1, 0, 2}),
                        paths);
  const Predictions p = read_predictions_csv(path("p.csv"));
  EXPECT_EQ(p.cluster, (std::vector<int64_t>{3, 0, 1, 3}));
  EXPECT_TRUE(p.has_labels);
  EXPECT_EQ(p.label, (std::vector<int64_t>{1, 1, 0, 2}));
  EXPECT_EQ(p.path, paths);
  EXPECT_EQ(p.index, (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST_F(PredictionsTest, WritesTheDocumentedHeader) {
  write_predictions_csv(path("p.csv"), torch::tensor({2, 1}), torch::Tensor(), {});
  std::ifstream in(path("p.csv"));
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "index,cluster\n0,2\n1,1\n");
  EXPECT_FALSE(read_predictions_csv(path("p.csv")).has_labels);
  // Path and label come before the cluster; a command's own columns after it.
  ExtraColumns extra;
  extra.names = {"confidence"};
  extra.row = [](int64_t i, std::string& line) { line += i == 0 ? ",0.9" : ",0.6"; };
  write_predictions_csv(path("q.csv"), torch::tensor({2, 1}), torch::tensor({0, 1}),
                        {"a.png", "b,c.png"}, extra);
  std::ifstream q(path("q.csv"));
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(q)), {}),
            "index,path,label,cluster,confidence\n0,a.png,0,2,0.9\n1,\"b,c.png\",1,1,0.6\n");
}

TEST_F(PredictionsTest, HandWrittenFilesWithCrlfAndColumnOrder) {
  test::write_text(path("h.csv"), "label,cluster\r\n4,1\r\n5,2\r\n");
  const Predictions p = read_predictions_csv(path("h.csv"));
  EXPECT_EQ(p.cluster, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(p.label, (std::vector<int64_t>{4, 5}));
}

TEST_F(PredictionsTest, MalformedFilesNameTheProblem) {
  test::write_text(path("a.csv"), "index,label\n0,1\n");
  expect_error_containing([&] { read_predictions_csv(path("a.csv")); },
                          {path("a.csv"), "no 'cluster' column", "index,label"});
  test::write_text(path("b.csv"), "index,cluster,label\n0,1,2\n1,x7,2\n");
  expect_error_containing([&] { read_predictions_csv(path("b.csv")); },
                          {path("b.csv"), "line 3", "cluster 'x7' is not an integer"});
  test::write_text(path("c.csv"), "index,cluster\n0,1,9\n");
  expect_error_containing([&] { read_predictions_csv(path("c.csv")); },
                          {"line 2 has 3 fields", "header has 2"});
  test::write_text(path("d.csv"), "");
  expect_error_containing([&] { read_predictions_csv(path("d.csv")); }, {"is empty"});
  expect_error_containing([&] { read_predictions_csv(path("none.csv")); },
                          {"file not found", path("none.csv")});
}

}  // namespace
}  // namespace dcacn
