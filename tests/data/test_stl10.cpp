#include "../test_util.h"
#include "dcacn/data/stl10.h"

namespace dcacn {
namespace {

using test::expect_error_containing;

// Images in STL-10's layout: per channel, column-major. Value at row r, column c of channel p
// of image i is (i * 50 + p * 3 + r * 2 + c) mod 256, written with the column index outer.
std::vector<uint8_t> stl_images(int n, int offset) {
  std::vector<uint8_t> out;
  for (int i = 0; i < n; ++i)
    for (int p = 0; p < 3; ++p)
      for (int c = 0; c < 96; ++c)
        for (int r = 0; r < 96; ++r)
          out.push_back(static_cast<uint8_t>((i + offset) * 50 + p * 3 + r * 2 + c));
  return out;
}

class Stl10Test : public test::TempDirTest {
 protected:
  std::string bin() const { return path("stl10_binary"); }
  void write_all() {
    test::write_bytes(bin() + "/train_X.bin", stl_images(2, 0));
    test::write_bytes(bin() + "/train_y.bin", {1, 10});
    test::write_bytes(bin() + "/test_X.bin", stl_images(3, 2));
    test::write_bytes(bin() + "/test_y.bin", {5, 6, 7});
    test::write_bytes(bin() + "/unlabeled_X.bin", stl_images(1, 9));
  }
};

TEST_F(Stl10Test, TransposesColumnMajorAndShiftsLabels) {
  write_all();
  Dataset all = load_stl10(dir_, Split::kAll);
  ASSERT_EQ(all.images.sizes(), (std::vector<int64_t>{5, 3, 96, 96}));
  // Image 1, channel 2, row 10, column 3: 50 + 6 + 20 + 3 = 79 (row and column not swapped).
  EXPECT_EQ(all.images[1][2][10][3].item<int>(), 79);
  EXPECT_EQ(all.images[1][2][3][10].item<int>(), 50 + 6 + 6 + 10);
  EXPECT_TRUE(all.labels.equal(torch::tensor({0, 9, 4, 5, 6}, torch::kInt64)));
  EXPECT_EQ(all.class_names.size(), 10u);
  EXPECT_EQ(load_stl10(bin(), Split::kTrain).size(), 2);
  Dataset unlabeled = load_stl10(dir_, Split::kUnlabeled);
  EXPECT_EQ(unlabeled.size(), 1);
  EXPECT_FALSE(unlabeled.has_labels());
}

TEST_F(Stl10Test, BadFiles) {
  write_all();
  test::write_bytes(bin() + "/test_y.bin", {5, 0, 7});
  expect_error_containing([&] { load_stl10(dir_, Split::kTest); },
                          {"label 0", "test_y.bin", "1..10"});
  test::write_bytes(bin() + "/test_y.bin", {5, 6});
  expect_error_containing([&] { load_stl10(dir_, Split::kTest); },
                          {"counts differ", "3 images", "2 labels"});
  auto bytes = stl_images(2, 0);
  bytes.resize(bytes.size() - 100);
  test::write_bytes(bin() + "/train_X.bin", bytes);
  expect_error_containing([&] { load_stl10(dir_, Split::kTrain); },
                          {"train_X.bin", "truncated or oversized", "27,648-byte"});
  expect_error_containing([&] { load_stl10(path("missing"), Split::kAll); },
                          {"data folder not found", "train_X.bin"});
}

}  // namespace
}  // namespace dcacn
