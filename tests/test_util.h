#pragma once
// Helpers for tests: a fresh temporary folder per test and writers for raw bytes.

#include <gtest/gtest.h>
#include <torch/types.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace dcacn::test {

/// Fixture with a fresh, empty temporary folder `dir_` and a fixed torch seed.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(1234);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = (std::filesystem::temp_directory_path() /
            (std::string("dcacn_test_") + info->test_suite_name() + "_" + info->name() + "_" +
             std::to_string(::getpid())))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
};

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

inline void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  gzclose(f);
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

inline std::vector<uint8_t> tensor_bytes(const torch::Tensor& t) {
  torch::Tensor c = t.contiguous().to(torch::kUInt8);
  return std::vector<uint8_t>(c.data_ptr<uint8_t>(), c.data_ptr<uint8_t>() + c.numel());
}

/// Header of an IDX file (MNIST format): magic 0x0000 08 DIMS, then each size big-endian.
inline std::vector<uint8_t> idx_header(uint8_t dims, const std::vector<uint32_t>& sizes) {
  std::vector<uint8_t> out = {0, 0, 0x08, dims};
  for (uint32_t s : sizes)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(s >> shift));
  return out;
}

/// Expects `body` to throw an exception whose message contains every one of `parts`.
template <typename Body>
void expect_error_containing(Body&& body, const std::vector<std::string>& parts) {
  try {
    body();
    ADD_FAILURE() << "expected an error mentioning '" << parts.front() << "'";
  } catch (const std::exception& e) {
    const std::string message = e.what();
    for (const auto& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos)
          << "message lacks '" << part << "': " << message;
    }
  }
}

/// An MNIST-format training set in `dir` (train-images/labels-idx*-ubyte): `n` images of 12x12
/// in two groups, a bright 5x5 square top-left (label 0) or bottom-right (label 1) on noise.
/// Returns the images [n, 12, 12] uint8.
inline torch::Tensor write_two_square_idx(const std::string& dir, int64_t n) {
  const torch::Tensor labels = torch::arange(n) % 2;
  torch::Tensor images = torch::randint(0, 40, {n, 12, 12});
  for (int64_t i = 0; i < n; ++i) {
    const int64_t o = labels[i].item<int64_t>() == 0 ? 1 : 6;
    images[i].slice(0, o, o + 5).slice(1, o, o + 5).add_(180);
  }
  images = images.to(torch::kUInt8);
  auto img = idx_header(3, {static_cast<uint32_t>(n), 12, 12});
  const auto pix = tensor_bytes(images);
  img.insert(img.end(), pix.begin(), pix.end());
  write_bytes(dir + "/train-images-idx3-ubyte", img);
  auto lab = idx_header(1, {static_cast<uint32_t>(n)});
  const auto lb = tensor_bytes(labels);
  lab.insert(lab.end(), lb.begin(), lb.end());
  write_bytes(dir + "/train-labels-idx1-ubyte", lab);
  return images;
}

}  // namespace dcacn::test
