#include <filesystem>

#include "../test_util.h"
#include "dcacn/data/cifar.h"

namespace dcacn {
namespace {

using test::expect_error_containing;

// One CIFAR record: label bytes, then R, G, B planes of 32x32 where the pixel at (r, c) of
// plane p holds (seed + p * 7 + r + c) mod 256.
std::vector<uint8_t> record(const std::vector<uint8_t>& labels, int seed) {
  std::vector<uint8_t> out(labels);
  for (int p = 0; p < 3; ++p)
    for (int r = 0; r < 32; ++r)
      for (int c = 0; c < 32; ++c) out.push_back(static_cast<uint8_t>(seed + p * 7 + r + c));
  return out;
}

std::vector<uint8_t> records(const std::vector<std::vector<uint8_t>>& labels, int seed0) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i < labels.size(); ++i) {
    auto rec = record(labels[i], seed0 + static_cast<int>(i));
    out.insert(out.end(), rec.begin(), rec.end());
  }
  return out;
}

class CifarTest : public test::TempDirTest {
 protected:
  std::string bin10() const { return path("cifar-10-batches-bin"); }
  void write_cifar10() {
    for (int b = 1; b <= 5; ++b) {
      test::write_bytes(bin10() + "/data_batch_" + std::to_string(b) + ".bin",
                        records({{static_cast<uint8_t>(b)}, {0}}, b * 10));
    }
    test::write_bytes(bin10() + "/test_batch.bin", records({{9}, {3}, {4}}, 100));
  }
};

TEST_F(CifarTest, Cifar10PlanesLabelsAndSplits) {
  write_cifar10();
  // Accepts both the -bin folder and its parent.
  for (const std::string& root : {bin10(), dir_}) {
    Dataset all = load_cifar10(root, Split::kAll);
    ASSERT_EQ(all.images.sizes(), (std::vector<int64_t>{13, 3, 32, 32}));
    EXPECT_TRUE(
        all.labels.equal(torch::tensor({1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 9, 3, 4}, torch::kInt64)));
    // Record 0 of data_batch_1 has seed 10: plane G (p=1), row 2, col 5 -> 10 + 7 + 7.
    EXPECT_EQ(all.images[0][1][2][5].item<int>(), 24);
    // First test record (seed 100), plane B, row 31, col 0 -> 100 + 14 + 31.
    EXPECT_EQ(all.images[10][2][31][0].item<int>(), 145);
    EXPECT_EQ(all.class_names.at(0), "airplane");
  }
  EXPECT_EQ(load_cifar10(dir_, Split::kTrain).size(), 10);
  EXPECT_EQ(load_cifar10(dir_, Split::kTest).size(), 3);
}

TEST_F(CifarTest, Cifar10BadFiles) {
  write_cifar10();
  auto bytes = records({{1}, {2}}, 0);
  bytes.pop_back();
  test::write_bytes(bin10() + "/data_batch_3.bin", bytes);
  expect_error_containing(
      [&] { load_cifar10(dir_, Split::kTrain); },
      {"data_batch_3.bin", "truncated or oversized", "6,145 bytes", "3,073-byte", "6,146"});
  write_cifar10();
  test::write_bytes(bin10() + "/test_batch.bin", records({{11}}, 0));
  expect_error_containing([&] { load_cifar10(dir_, Split::kTest); },
                          {"test_batch.bin", "is 11", "expected 0..9"});
  std::filesystem::remove(bin10() + "/data_batch_5.bin");
  expect_error_containing([&] { load_cifar10(dir_, Split::kTrain); },
                          {"missing file", "data_batch_5.bin"});
  expect_error_containing([&] { load_cifar10(path("nope"), Split::kAll); },
                          {"data folder not found", path("nope")});
}

TEST_F(CifarTest, Cifar100UsesCoarseLabels) {
  const std::string bin = path("cifar-100-binary");
  test::write_bytes(bin + "/train.bin", records({{19, 99}, {0, 5}}, 1));
  test::write_bytes(bin + "/test.bin", records({{7, 42}}, 2));
  Dataset all = load_cifar100(dir_, Split::kAll);
  ASSERT_EQ(all.images.sizes(), (std::vector<int64_t>{3, 3, 32, 32}));
  EXPECT_TRUE(all.labels.equal(torch::tensor({19, 0, 7}, torch::kInt64)));
  // Pixels start after the two label bytes: record 0, plane R, (0, 0) -> seed 1.
  EXPECT_EQ(all.images[0][0][0][0].item<int>(), 1);
  test::write_bytes(bin + "/test.bin", records({{20, 1}}, 2));
  expect_error_containing([&] { load_cifar100(dir_, Split::kTest); },
                          {"label byte 0", "is 20", "expected 0..19"});
  test::write_bytes(bin + "/test.bin", records({{2, 100}}, 2));
  expect_error_containing([&] { load_cifar100(dir_, Split::kTest); },
                          {"label byte 1", "is 100", "expected 0..99"});
}

}  // namespace
}  // namespace dcacn
