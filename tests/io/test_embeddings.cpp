#include <fstream>

#include "../test_util.h"
#include "dcacn/io/embeddings.h"

namespace dcacn {
namespace {

class EmbeddingsTest : public test::TempDirTest {};

TEST_F(EmbeddingsTest, PtRoundTripAndCsvLayout) {
  Embeddings e;
  e.checkpoint = "run/checkpoints/last.pt";
  e.features = torch::randn({3, 4});
  e.embeddings = torch::randn({3, 2});
  e.probabilities = torch::softmax(torch::randn({3, 2}), 1);
  e.clusters = e.probabilities.argmax(1);
  e.labels = torch::tensor({1, 0, 1}, torch::kInt64);
  e.paths = {"a.png", "dir,with,commas/b.png", "c.png"};
  e.class_names = {"zero", "one"};
  write_embeddings_pt(path("e.pt"), e);
  const Embeddings back = read_embeddings_pt(path("e.pt"));
  EXPECT_EQ(back.checkpoint, e.checkpoint);
  EXPECT_TRUE(back.features.equal(e.features));
  EXPECT_TRUE(back.embeddings.equal(e.embeddings));
  EXPECT_TRUE(back.probabilities.equal(e.probabilities));
  EXPECT_TRUE(back.clusters.equal(e.clusters));
  EXPECT_TRUE(back.labels.equal(e.labels));
  EXPECT_EQ(back.paths, e.paths);
  EXPECT_EQ(back.class_names, e.class_names);

  write_embeddings_csv(path("e.csv"), e);
  std::ifstream in(path("e.csv"));
  std::string header, row;
  std::getline(in, header);
  std::getline(in, row);
  std::getline(in, row);
  EXPECT_EQ(header, "index,path,label,cluster,p_0,p_1,e_0,e_1,f_0,f_1,f_2,f_3");
  EXPECT_EQ(row.rfind("1,\"dir,with,commas/b.png\",0,", 0), 0u) << row;

  test::write_text(path("other.pt"), "nonsense");
  test::expect_error_containing([&] { read_embeddings_pt(path("other.pt")); },
                                {"other.pt", "not an embeddings file"});
}

}  // namespace
}  // namespace dcacn
