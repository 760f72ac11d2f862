#include <torch/serialize.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "../test_util.h"
#include "dcacn/io/embeddings.h"
#include "dcacn/run/checkpoint.h"
#include "dcacn/util/error.h"
#include "dcacn/util/torch_archive.h"

namespace dcacn {
namespace {

using test::expect_error_containing;

std::vector<uint8_t> saved(const c10::IValue& value) {
  const std::vector<char> bytes = torch::pickle_save(value);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

c10::IValue example() {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  dict.insert("weights", torch::arange(1000, torch::kFloat).view({10, 100}));
  dict.insert("name", std::string("a checkpoint"));
  dict.insert("steps", int64_t(1234));
  return dict;
}

TEST(TorchArchiveTest, WhatPyTorchWritesPasses) {
  EXPECT_NO_THROW(check_torch_archive(saved(example()), "x.pt"));
}

TEST(TorchArchiveTest, EveryCutIsRefusedWithoutReachingLibTorch) {
  const std::vector<uint8_t> bytes = saved(example());
  for (size_t keep = 0; keep < bytes.size(); keep += 97) {
    const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<int64_t>(keep));
    expect_error_containing([&] { check_torch_archive(cut, "cut.pt"); },
                            {"cut.pt is not a readable PyTorch file"});
  }
}

TEST(TorchArchiveTest, AChangedByteInAnEntryFailsItsCrc) {
  std::vector<uint8_t> bytes = saved(example());
  // The float 999.0 (0x4479C000) is in the tensor record: change it.
  const uint8_t f999[4] = {0x00, 0xC0, 0x79, 0x44};
  auto at = std::search(bytes.begin(), bytes.end(), f999, f999 + 4);
  ASSERT_NE(at, bytes.end());
  *at ^= 1;
  expect_error_containing([&] { check_torch_archive(bytes, "flip.pt"); },
                          {"flip.pt", "archive/data/0", "CRC-32"});
}

// Replaces every occurrence of `from` by `to` (same length): in both zip headers of an entry.
void rename_everywhere(std::vector<uint8_t>& bytes, const std::string& from,
                       const std::string& to) {
  ASSERT_EQ(from.size(), to.size());
  for (auto at = bytes.begin();
       (at = std::search(at, bytes.end(), from.begin(), from.end())) != bytes.end();) {
    at = std::copy(to.begin(), to.end(), at);
  }
}

TEST(TorchArchiveTest, WhatLibTorchsZipReaderRefusesIsRefusedFirst) {
  // A first entry outside a folder gives LibTorch no prefix for its records.
  std::vector<uint8_t> flat = saved(example());
  const uint8_t entry[4] = {'P', 'K', 1, 2};
  auto first = std::search(flat.begin(), flat.end(), entry, entry + 4);
  ASSERT_NE(first, flat.end());
  const std::string name(first + 46, first + 46 + (first[28] | first[29] << 8));
  std::string renamed = name;
  std::replace(renamed.begin(), renamed.end(), '/', '_');
  rename_everywhere(flat, name, renamed);
  expect_error_containing([&] { check_torch_archive(flat, "flat.pt"); },
                          {"its first entry, " + renamed + ", is not in a folder"});
  // An entry flagged as encrypted in the directory.
  std::vector<uint8_t> locked = saved(example());
  auto at = std::search(locked.begin(), locked.end(), entry, entry + 4);
  ASSERT_NE(at, locked.end());
  at[8] |= 1;  // general purpose flags, bit 0
  expect_error_containing([&] { check_torch_archive(locked, "locked.pt"); },
                          {"is encrypted or patched (flags 0x", "PyTorch writes plain entries"});
  // LibTorch finds records ignoring case: a version record in other case is one (and checked
  // as one).
  std::vector<uint8_t> upper = saved(example());
  rename_everywhere(upper, "archive/version", "archive/VERSION");
  EXPECT_NO_THROW(check_torch_archive(upper, "upper.pt"));
}

TEST(TorchArchiveTest, PickleOpcodesMustStayInsideTheirRecord) {
  const std::vector<uint8_t> good = {0x80, 2, '}', 'q', 0, 'X', 2, 0, 0, 0, 'h', 'i', '.'};
  EXPECT_NO_THROW(check_pickle_opcodes(good.data(), good.size(), "p"));
  const std::vector<uint8_t> huge = {0x80, 2, 'B', 0xff, 0xff, 0xff, 0x7f, 'x', '.'};
  expect_error_containing([&] { check_pickle_opcodes(huge.data(), huge.size(), "p"); },
                          {"data.pkl is damaged", "declares 2147483647 bytes, 2 left"});
  const std::vector<uint8_t> no_stop = {0x80, 2, '}'};
  expect_error_containing([&] { check_pickle_opcodes(no_stop.data(), no_stop.size(), "p"); },
                          {"without a STOP"});
  const std::vector<uint8_t> unknown = {0x80, 2, 0xfe, '.'};
  expect_error_containing([&] { check_pickle_opcodes(unknown.data(), unknown.size(), "p"); },
                          {"0xfe at byte 2 is not a pickle opcode"});
  const std::vector<uint8_t> global = {'c', 'a', '\n', 'b', '.'};
  expect_error_containing([&] { check_pickle_opcodes(global.data(), global.size(), "p"); },
                          {"no end of line"});
}

// Inputs found by fuzz/run, kept as regression tests: LibTorch 1.13's reader made a
// use-after-free of the first (a file without a zip directory) and tried to allocate 1.9 GB
// for the second (a byte string whose declared length runs past data.pkl; the mutation also
// broke the entry's CRC-32, which is checked first).
TEST(TorchArchiveTest, FilesFoundByFuzzingAreRefusedWithAMessage) {
  const std::string dir = std::string(DCACN_FIXTURE_DIR) + "/fuzz/";
  expect_error_containing([&] { load_checkpoint(dir + "checkpoint-without-directory.pt"); },
                          {"checkpoint-without-directory.pt", "no zip directory"});
  expect_error_containing([&] { read_embeddings_pt(dir + "embeddings-declaring-1.9GB.pt"); },
                          {"embeddings-declaring-1.9GB.pt", "archive/data.pkl is damaged"});
  // LibTorch leaked its zip state when the version record was missing (here: renamed in the
  // directory but not in the local header).
  expect_error_containing([&] { read_embeddings_pt(dir + "embeddings-renamed-version.pt"); },
                          {"archive/ver]ion has another name in its local header"});
  // The same leak when the version record is flagged as patched data (miniz refuses to
  // extract it).
  expect_error_containing([&] { read_embeddings_pt(dir + "embeddings-patched-version.pt"); },
                          {"archive/version is encrypted or patched (flags 0x0ab8)"});
  // And when its external attributes mark the version record as a folder (miniz then
  // extracts nothing from it).
  expect_error_containing([&] { read_embeddings_pt(dir + "embeddings-version-as-folder.pt"); },
                          {"archive/version is marked as a folder"});
}

}  // namespace
}  // namespace dcacn
