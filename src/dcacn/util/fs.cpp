#include "dcacn/util/fs.h"

#include <zlib.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "dcacn/util/error.h"

namespace dcacn {
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> read_plain(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  DCACN_CHECK(in, "cannot open ", path, ": ", std::strerror(errno));
  const std::streamsize size = in.tellg();
  in.seekg(0);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  DCACN_CHECK(in.read(reinterpret_cast<char*>(bytes.data()), size), "cannot read ", path);
  return bytes;
}

std::vector<uint8_t> read_gzip(const std::string& path, size_t compressed_size) {
  gzFile file = gzopen(path.c_str(), "rb");
  DCACN_CHECK(file != nullptr, "cannot open ", path, ": ", std::strerror(errno));
  gzbuffer(file, 1 << 20);
  std::vector<uint8_t> bytes;
  bytes.reserve(compressed_size * 4);
  std::vector<uint8_t> chunk(1 << 22);
  while (true) {
    const int got = gzread(file, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (got < 0) {
      int code = 0;
      const std::string reason = gzerror(file, &code);
      gzclose(file);
      throw InputError(c10::str(path, " is not a valid gzip file: ", reason));
    }
    if (got == 0) break;
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + got);
  }
  // gzread reports a truncated stream only through gzerror after the last read.
  int code = 0;
  const std::string reason = gzerror(file, &code);
  gzclose(file);
  DCACN_CHECK(code == Z_OK || code == Z_STREAM_END, path, " is a damaged gzip file: ", reason);
  return bytes;
}

}  // namespace

bool is_file(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

bool is_directory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

std::vector<uint8_t> read_file_bytes(const std::string& path, bool gunzip) {
  DCACN_CHECK(!is_directory(path), path, " is a directory, expected a file");
  DCACN_CHECK(is_file(path), "file not found: ", path);
  if (gunzip) {
    uint8_t magic[2] = {0, 0};
    std::ifstream probe(path, std::ios::binary);
    probe.read(reinterpret_cast<char*>(magic), 2);
    if (probe.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
      return read_gzip(path, static_cast<size_t>(fs::file_size(path)));
    }
  }
  return read_plain(path);
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const fs::path target(path);
  if (target.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    DCACN_CHECK(out, "cannot write ", tmp, ": ", std::strerror(errno));
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    DCACN_CHECK(out, "cannot write ", tmp, ": ", std::strerror(errno));
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  DCACN_CHECK(!ec, "cannot rename ", tmp, " to ", path, ": ", ec.message());
}

std::string with_thousands(uint64_t value) {
  std::string digits = std::to_string(value);
  std::string out;
  const int n = static_cast<int>(digits.size());
  for (int i = 0; i < n; ++i) {
    out.push_back(digits[i]);
    if ((n - i - 1) % 3 == 0 && i != n - 1) out.push_back(',');
  }
  return out;
}

}  // namespace dcacn

namespace dcacn {

torch::Tensor read_fixed_records(const std::string& path, int64_t record_bytes,
                                 const std::string& what) {
  DCACN_CHECK(!is_directory(path), path, " is a directory, expected a file");
  DCACN_CHECK(is_file(path), "file not found: ", path);
  const uint64_t size = fs::file_size(path);
  const uint64_t rec = static_cast<uint64_t>(record_bytes);
  DCACN_CHECK(size > 0, path, " is empty; expected ", what, "s of ", with_thousands(rec),
              " bytes each");
  DCACN_CHECK(size % rec == 0, path, " is truncated or oversized: ", with_thousands(size),
              " bytes is not a whole number of ", with_thousands(rec), "-byte ", what,
              "s (", with_thousands(size / rec), " records + ", with_thousands(size % rec),
              " bytes; expected ", with_thousands(size / rec * rec), " or ",
              with_thousands((size / rec + 1) * rec), " bytes)");
  const int64_t count = static_cast<int64_t>(size / rec);
  torch::Tensor out = torch::empty({count, record_bytes}, torch::kUInt8);
  std::ifstream in(path, std::ios::binary);
  DCACN_CHECK(in, "cannot open ", path, ": ", std::strerror(errno));
  DCACN_CHECK(in.read(reinterpret_cast<char*>(out.data_ptr<uint8_t>()),
                      static_cast<std::streamsize>(size)),
              "cannot read ", path, ": read ", in.gcount(), " of ", size, " bytes");
  return out;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  DCACN_CHECK(in, "cannot open ", path, ": ", std::strerror(errno));
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

}  // namespace dcacn
