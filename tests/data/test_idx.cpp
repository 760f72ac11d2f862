#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../test_util.h"
#include "dcacn/data/idx.h"
#include "dcacn/data/registry.h"

namespace dcacn {
namespace {

using test::expect_error_containing;

std::vector<uint8_t> idx_bytes(uint8_t type, const std::vector<uint32_t>& dims,
                               const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(d >> shift));
  }
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// Images whose pixel (n, r, c) is n*16 + r*4 + c: every position distinguishable.
std::vector<uint8_t> pattern(int n, int h, int w) {
  std::vector<uint8_t> data;
  for (int i = 0; i < n; ++i)
    for (int r = 0; r < h; ++r)
      for (int c = 0; c < w; ++c) data.push_back(static_cast<uint8_t>(i * 16 + r * 4 + c));
  return data;
}

class IdxTest : public test::TempDirTest {
 protected:
  // A complete small MNIST-style folder: 3 train and 2 test images of 4x3 pixels.
  void write_folder(bool gz) {
    auto write = gz ? test::write_gzip : test::write_bytes;
    const std::string ext = gz ? ".gz" : "";
    write(path("train-images-idx3-ubyte" + ext), idx_bytes(0x08, {3, 4, 3}, pattern(3, 4, 3)));
    write(path("train-labels-idx1-ubyte" + ext), idx_bytes(0x08, {3}, {7, 0, 9}));
    write(path("t10k-images-idx3-ubyte" + ext), idx_bytes(0x08, {2, 4, 3}, pattern(2, 4, 3)));
    write(path("t10k-labels-idx1-ubyte" + ext), idx_bytes(0x08, {2}, {1, 2}));
  }
};

TEST_F(IdxTest, ReadsRawAndGzipIdentically) {
  for (bool gz : {false, true}) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    write_folder(gz);
    Dataset all = load_idx_dataset(dir_, Split::kAll, IdxFlavor::kFashionMnist);
    ASSERT_EQ(all.images.sizes(), (std::vector<int64_t>{5, 1, 4, 3}));
    EXPECT_EQ(all.images.scalar_type(), torch::kUInt8);
    // Train first, then test; pixel (n=1, r=2, c=1) of train is 16 + 8 + 1.
    EXPECT_EQ(all.images[1][0][2][1].item<int>(), 25);
    EXPECT_EQ(all.images[3][0][0][0].item<int>(), 0);  // first test image
    EXPECT_EQ(all.labels.scalar_type(), torch::kInt64);
    EXPECT_TRUE(all.labels.equal(torch::tensor({7, 0, 9, 1, 2}, torch::kInt64)));
    EXPECT_EQ(all.class_names.size(), 10u);
    EXPECT_EQ(all.class_names[9], "Ankle boot");
    EXPECT_EQ(load_idx_dataset(dir_, Split::kTrain, IdxFlavor::kMnist).size(), 3);
    EXPECT_EQ(load_idx_dataset(dir_, Split::kTest, IdxFlavor::kMnist).size(), 2);
  }
}

TEST_F(IdxTest, BadMagicNumberIsRejected) {
  test::write_bytes(path("x.idx"), {0x1f, 0x00, 0x08, 0x03, 0, 0, 0, 0});
  expect_error_containing([&] { read_idx_ubyte(path("x.idx"), 3); },
                          {"bad magic number 0x1F000803", path("x.idx"), "0x00000803"});
  test::write_bytes(path("labels.idx"), idx_bytes(0x08, {3}, {1, 2, 3}));
  expect_error_containing([&] { read_idx_ubyte(path("labels.idx"), 3); },
                          {"has 1 dimensions", "expected 3"});
  test::write_bytes(path("float.idx"), idx_bytes(0x0D, {1}, {0, 0, 0, 0}));
  expect_error_containing([&] { read_idx_ubyte(path("float.idx"), 1); },
                          {"float32", "expected unsigned bytes"});
}

TEST_F(IdxTest, TruncatedAndOversizedFilesGiveByteCounts) {
  auto bytes = idx_bytes(0x08, {3, 4, 3}, pattern(3, 4, 3));
  std::vector<uint8_t> truncated(bytes.begin(), bytes.end() - 5);
  test::write_gzip(path("t.gz"), truncated);
  // 16-byte header + 36 pixels = 52 bytes expected, 47 present.
  expect_error_containing([&] { read_idx_ubyte(path("t.gz"), 3); },
                          {"truncated", "3x4x3", "52 bytes", "has 47"});
  auto oversized = bytes;
  oversized.push_back(1);
  test::write_bytes(path("o"), oversized);
  expect_error_containing([&] { read_idx_ubyte(path("o"), 3); },
                          {"oversized", "52 bytes", "has 53", "1 extra"});
  test::write_bytes(path("tiny"), {0, 0});
  expect_error_containing([&] { read_idx_ubyte(path("tiny"), 1); }, {"too short", "2 bytes"});
}

TEST_F(IdxTest, DamagedGzipStreamIsRejected) {
  write_folder(true);
  std::ifstream in(path("train-images-idx3-ubyte.gz"), std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
  bytes.resize(bytes.size() / 2);  // cut the compressed stream in the middle
  test::write_bytes(path("cut.gz"), bytes);
  expect_error_containing([&] { read_idx_ubyte(path("cut.gz"), 3); }, {path("cut.gz")});
}

// In a child process of a death test: limits the address space to what the process holds plus
// `spare` bytes, reads `path`, and exits 0 when the reader refuses it with a message holding
// `expected`, 1 otherwise (another error, or an allocation that failed).
[[noreturn]] void read_with_address_space_to_spare(const std::string& path, uint64_t spare,
                                                   const std::string& expected) {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0;
  statm >> pages;
  const uint64_t limit = pages * static_cast<uint64_t>(::sysconf(_SC_PAGE_SIZE)) + spare;
  struct rlimit as = {limit, limit};
  ::setrlimit(RLIMIT_AS, &as);
  try {
    read_idx_ubyte(path, 3);
  } catch (const std::exception& e) {
    if (std::string(e.what()).find(expected) != std::string::npos) std::_Exit(0);
    std::fprintf(stderr, "%s\n", e.what());
  }
  std::_Exit(1);
}

// A gzip bomb: 3 small images declared, then 512 MiB of zeros in 4 KiB of compressed data
// (gzip members of 16 MiB each, concatenated). Read in a child process whose address space
// allows only 256 MiB more than it holds: reading the declared bytes and one more passes,
// inflating the whole file (what the reader did before) cannot.
TEST_F(IdxTest, GzipBombIsRejectedAfterTheDeclaredBytes) {
  std::vector<uint8_t> head = idx_bytes(0x08, {3, 4, 3}, pattern(3, 4, 3));
  test::write_gzip(path("head.gz"), head);
  test::write_gzip(path("zeros.gz"), std::vector<uint8_t>(16 << 20, 0));
  auto slurp = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::vector<char>((std::istreambuf_iterator<char>(in)), {});
  };
  const std::vector<char> first = slurp(path("head.gz")), zeros = slurp(path("zeros.gz"));
  {
    std::ofstream out(path("bomb.gz"), std::ios::binary);
    out.write(first.data(), static_cast<std::streamsize>(first.size()));
    for (int i = 0; i < 32; ++i)
      out.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  ASSERT_LT(std::filesystem::file_size(path("bomb.gz")), 1u << 20);
  const std::string bomb = path("bomb.gz");
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(read_with_address_space_to_spare(bomb, uint64_t(256) << 20, "goes on past"),
              ::testing::ExitedWithCode(0), "");
}

// Found by fuzz/run (fuzz_idx): 41 gzipped bytes whose header declared 8194 x 131076 x 3
// (3.2 GB, less than the machine's memory) made the reader allocate all of it before finding
// the data missing. Memory now follows the data that is there. In a death test's child whose
// address space allows `spare` more bytes: a file declaring more than that (but less than the
// limit, so that the memory check lets it through) must be refused as truncated.
[[noreturn]] void read_claim_larger_than_spare(const std::string& dir, uint64_t spare) {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0;
  statm >> pages;
  const uint64_t held = pages * static_cast<uint64_t>(::sysconf(_SC_PAGE_SIZE));
  const uint32_t mebibytes = static_cast<uint32_t>((spare + held / 2) >> 20);
  const std::string file = dir + "/claims.gz";
  test::write_gzip(file, idx_bytes(0x08, {mebibytes, 1024, 1024}, pattern(1, 4, 6)));
  read_with_address_space_to_spare(file, spare, "is truncated");
}

TEST_F(IdxTest, AGzipFileDeclaringGigabytesItDoesNotHoldCostsOnlyItsData) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space: no RLIMIT_AS margin";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space: no RLIMIT_AS margin";
#endif
#endif
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(read_claim_larger_than_spare(dir_, uint64_t(256) << 20), ::testing::ExitedWithCode(0),
              "");
}

// Found by fuzz/run (fuzz_idx, UBSan): a gzipped file declaring 0 images copied 0 bytes from
// a null pointer. An empty declaration reads as an empty tensor.
TEST_F(IdxTest, AFileDeclaringNoImagesReadsAsEmpty) {
  test::write_gzip(path("none.gz"), idx_bytes(0x08, {0, 4, 3}, {}));
  EXPECT_EQ(read_idx_ubyte(path("none.gz"), 3).sizes(), (std::vector<int64_t>{0, 4, 3}));
}

TEST_F(IdxTest, HeaderDeclaringMoreThanMemoryIsRejectedBeforeAllocating) {
  // 65536^3 bytes = 256 TiB, in a file of 16 bytes.
  test::write_bytes(path("huge"), idx_bytes(0x08, {65536, 65536, 65536}, {}));
  expect_error_containing([&] { read_idx_ubyte(path("huge"), 3); },
                          {path("huge"), "65536x65536x65536", "bytes of memory of this machine"});
  test::write_gzip(path("huge.gz"), idx_bytes(0x08, {65536, 65536, 65536}, {}));
  expect_error_containing([&] { read_idx_ubyte(path("huge.gz"), 3); },
                          {"bytes of memory of this machine"});
  // (2^32 - 1)^3 overflows 64 bits.
  test::write_bytes(path("overflow"), idx_bytes(0x08, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, {}));
  expect_error_containing([&] { read_idx_ubyte(path("overflow"), 3); },
                          {path("overflow"), "more than 2^64 bytes"});
}

TEST_F(IdxTest, LabelCountMismatchAndMissingFiles) {
  write_folder(false);
  test::write_bytes(path("train-labels-idx1-ubyte"), idx_bytes(0x08, {2}, {1, 2}));
  expect_error_containing([&] { load_idx_dataset(dir_, Split::kTrain, IdxFlavor::kMnist); },
                          {"image and label counts differ", "has 3 images", "has 2 labels"});
  std::filesystem::remove(path("t10k-images-idx3-ubyte"));
  expect_error_containing([&] { load_idx_dataset(dir_, Split::kTest, IdxFlavor::kMnist); },
                          {"missing file", "t10k-images-idx3-ubyte.gz"});
  expect_error_containing(
      [&] { load_idx_dataset(path("nowhere"), Split::kAll, IdxFlavor::kMnist); },
      {"data folder not found", path("nowhere"), "train-images-idx3-ubyte.gz"});
}

TEST_F(IdxTest, LabelOutOfRangeIsRejected) {
  write_folder(false);
  test::write_bytes(path("train-labels-idx1-ubyte"), idx_bytes(0x08, {3}, {1, 12, 2}));
  expect_error_containing([&] { load_idx_dataset(dir_, Split::kTrain, IdxFlavor::kMnist); },
                          {"label 12", "out of range", "10 classes"});
}

TEST(FashionMnistReal, DebianPackageHas70000BalancedImages) {
  if (!std::filesystem::exists(kDebianFashionMnistDir)) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  DatasetSpec spec;  // defaults: fashion-mnist, Debian's folder, all splits
  Dataset data = load_dataset(spec);
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{70000, 1, 28, 28}));
  EXPECT_EQ(data.num_classes(), 10);
  EXPECT_TRUE(torch::bincount(data.labels).equal(torch::full({10}, 7000, torch::kInt64)));
  spec.split = Split::kTest;
  EXPECT_EQ(load_dataset(spec).size(), 10000);
}

}  // namespace
}  // namespace dcacn
