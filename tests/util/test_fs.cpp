#include <signal.h>
#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "../test_util.h"
#include "dcacn/util/error.h"
#include "dcacn/util/fs.h"

namespace dcacn {
namespace {

using test::expect_error_containing;

class FsTest : public test::TempDirTest {};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST_F(FsTest, FileReaderReadsPlainAndGzipFilesInPieces) {
  std::vector<uint8_t> bytes(100000);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + i / 256);
  test::write_bytes(path("plain"), bytes);
  test::write_gzip(path("packed.gz"), bytes);
  for (const std::string name : {"plain", "packed.gz"}) {
    FileReader in(path(name), true);
    EXPECT_EQ(in.gzipped(), name == "packed.gz");
    std::vector<uint8_t> got(bytes.size() + 10);
    const size_t first = in.read(got.data(), 1000);
    const size_t rest = in.read(got.data() + first, got.size() - first);
    EXPECT_EQ(first, 1000u);
    EXPECT_EQ(first + rest, bytes.size());
    got.resize(first + rest);
    EXPECT_EQ(got, bytes);
    EXPECT_EQ(in.read(got.data(), 1), 0u);  // at the end
  }
  // Without gunzip, a gzip file is read as it is.
  FileReader raw(path("packed.gz"), false);
  EXPECT_FALSE(raw.gzipped());
  uint8_t magic[2];
  ASSERT_EQ(raw.read(magic, 2), 2u);
  EXPECT_EQ(magic[0], 0x1f);
  expect_error_containing([&] { FileReader(path("absent"), true); }, {"not found", "absent"});
  expect_error_containing([&] { FileReader(dir_, true); }, {"is a directory"});
}

TEST_F(FsTest, AGzipStreamCutShortIsAnError) {
  std::vector<uint8_t> bytes(50000, 3);
  for (size_t i = 0; i < bytes.size(); i += 7) bytes[i] = static_cast<uint8_t>(i);
  test::write_gzip(path("full.gz"), bytes);
  const std::string packed = read_all(path("full.gz"));
  test::write_text(path("cut.gz"), packed.substr(0, packed.size() / 2));
  FileReader in(path("cut.gz"), true);
  std::vector<uint8_t> got(bytes.size());
  expect_error_containing([&] { in.read(got.data(), got.size()); }, {"cut.gz", "gzip"});
}

TEST_F(FsTest, AllocationsPastMemoryAreRefusedWithTheNumbers) {
  EXPECT_GT(memory_limit_bytes(), uint64_t(1) << 26);
  EXPECT_NO_THROW(check_fits_in_memory(1 << 20, "f", "it"));
  expect_error_containing(
      [&] { check_fits_in_memory(uint64_t(1) << 62, "data.bin", "its 3 images"); },
      {"data.bin: its 3 images needs 4,611,686,018,427,387,904 bytes", "of memory"});
}

// In a death test's child: file writes past `limit` bytes fail with EFBIG (as writes to a full
// disk fail with ENOSPC) instead of raising SIGXFSZ.
void limit_file_size(uint64_t limit) {
  ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit fsize = {limit, limit};
  ::setrlimit(RLIMIT_FSIZE, &fsize);
}

// Runs `write` with file sizes limited to `limit`; exits 0 when it throws an InputError whose
// message holds `expected`, 1 otherwise.
[[noreturn]] void expect_write_refused(uint64_t limit, const std::function<void()>& write,
                                       const std::string& expected) {
  limit_file_size(limit);
  try {
    write();
  } catch (const InputError& e) {
    if (std::string(e.what()).find(expected) != std::string::npos) std::_Exit(0);
    std::fprintf(stderr, "%s\n", e.what());
  }
  std::_Exit(1);
}

TEST_F(FsTest, AFullDiskLeavesThePreviousFileAndNoTornLine) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  write_file_atomic(path("state"), "old contents\n");
  append_file_synced(path("log.csv"), "a,b\n1,2\n");
  const std::string big(64 * 1024, 'x');
  EXPECT_EXIT(
      expect_write_refused(
          16 * 1024, [&] { write_file_atomic(path("state"), big); }, "the previous file is intact"),
      ::testing::ExitedWithCode(0), "");
  EXPECT_EXIT(expect_write_refused(
                  16 * 1024, [&] { append_file_synced(path("log.csv"), "3," + big + "\n"); },
                  "the file is as it was before"),
              ::testing::ExitedWithCode(0), "");
  EXPECT_EQ(read_all(path("state")), "old contents\n");
  EXPECT_FALSE(std::filesystem::exists(path("state.tmp")));
  EXPECT_EQ(read_all(path("log.csv")), "a,b\n1,2\n");
}

}  // namespace
}  // namespace dcacn
