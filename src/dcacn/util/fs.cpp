#include "dcacn/util/fs.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
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
  check_fits_in_memory(static_cast<uint64_t>(size), path, "the file");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  DCACN_CHECK(in.read(reinterpret_cast<char*>(bytes.data()), size), "cannot read ", path);
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
  if (!gunzip) {
    DCACN_CHECK(!is_directory(path), path, " is a directory, expected a file");
    DCACN_CHECK(is_file(path), "file not found: ", path);
    return read_plain(path);
  }
  // FileReader tells a gzip file by its magic; a plain one is read at its known size.
  FileReader in(path, true);
  if (!in.gzipped()) return read_plain(path);
  std::vector<uint8_t> bytes;
  std::vector<uint8_t> chunk(1 << 22);
  while (const size_t got = in.read(chunk.data(), chunk.size())) {
    check_fits_in_memory(bytes.size() + got, path, "its inflated data");
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + static_cast<int64_t>(got));
  }
  return bytes;
}

FileReader::FileReader(const std::string& path, bool gunzip) : path_(path) {
  DCACN_CHECK(!is_directory(path), path, " is a directory, expected a file");
  DCACN_CHECK(is_file(path), "file not found: ", path);
  std::error_code ec;
  file_size_ = fs::file_size(path, ec);
  DCACN_CHECK(!ec, "cannot read the size of ", path, ": ", ec.message());
  plain_ = std::fopen(path.c_str(), "rb");
  DCACN_CHECK(plain_ != nullptr, "cannot open ", path, ": ", std::strerror(errno));
  if (!gunzip) return;
  unsigned char magic[2] = {0, 0};
  const size_t got = std::fread(magic, 1, 2, plain_);
  std::rewind(plain_);
  if (got < 2 || magic[0] != 0x1f || magic[1] != 0x8b) return;
  // zlib takes the descriptor over; closing the gzFile closes it.
  const int fd = ::dup(::fileno(plain_));
  std::fclose(plain_);
  plain_ = nullptr;
  DCACN_CHECK(fd >= 0, "cannot open ", path, ": ", std::strerror(errno));
  gzFile gz = gzdopen(fd, "rb");
  if (gz == nullptr) {
    ::close(fd);
    throw InputError(c10::str("cannot open ", path, " as gzip: out of memory"));
  }
  gzbuffer(gz, 1 << 20);
  gz_ = gz;
}

FileReader::~FileReader() {
  if (gz_ != nullptr) gzclose(static_cast<gzFile>(gz_));
  if (plain_ != nullptr) std::fclose(plain_);
}

size_t FileReader::read(void* dst, size_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  size_t done = 0;
  if (plain_ != nullptr) {
    while (done < n) {
      const size_t got = std::fread(out + done, 1, n - done, plain_);
      if (got == 0) break;
      done += got;
    }
    DCACN_CHECK(!std::ferror(plain_), "cannot read ", path_, ": ", std::strerror(errno));
    return done;
  }
  auto* gz = static_cast<gzFile>(gz_);
  while (done < n) {
    const unsigned ask = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
    const int got = gzread(gz, out + done, ask);
    if (got < 0) {
      int code = 0;
      throw InputError(c10::str(path_, " is not a valid gzip file: ", gzerror(gz, &code)));
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  if (done < n) {
    // gzread reports a stream cut short only through gzerror after its last read.
    int code = 0;
    const std::string reason = gzerror(gz, &code);
    DCACN_CHECK(code == Z_OK || code == Z_STREAM_END, path_, " is a damaged gzip file: ", reason);
  }
  return done;
}

uint64_t memory_limit_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGE_SIZE);
  uint64_t limit = pages > 0 && page_size > 0
                       ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size)
                       : UINT64_MAX;
  struct rlimit as {};
  if (::getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
    limit = std::min<uint64_t>(limit, as.rlim_cur);
  }
  return limit;
}

void check_fits_in_memory(uint64_t bytes, const std::string& path, const std::string& what) {
  const uint64_t limit = memory_limit_bytes();
  DCACN_CHECK(bytes <= limit, path, ": ", what, " needs ", with_thousands(bytes),
              " bytes, more than the ", with_thousands(limit), " bytes of memory of this machine");
}

namespace {

// Writes all of `content` to the open descriptor `fd`; false with errno set on failure.
bool write_all(int fd, const std::string& content) {
  const char* data = content.data();
  size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    left -= static_cast<size_t>(n);
  }
  return true;
}

std::string parent_or_dot(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

}  // namespace

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  DCACN_CHECK(fd >= 0, "cannot open folder ", dir, " to sync it: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  DCACN_CHECK(rc == 0 || err == EINVAL, "cannot sync folder ", dir, ": ", std::strerror(err));
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string dir = parent_or_dot(path);
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  DCACN_CHECK(fd >= 0, "cannot write ", tmp, ": ", std::strerror(errno));
  // The data reaches the disk before the rename makes it visible under its name, and the
  // folder entry after it: a crash or power cut leaves the old file or the new one, whole.
  const bool written = write_all(fd, content) && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!written) {
    ::unlink(tmp.c_str());
    throw InputError(c10::str("cannot write ", path, " (", with_thousands(content.size()),
                              " bytes): ", std::strerror(err), "; the previous file is intact"));
  }
  fs::rename(tmp, path, ec);
  DCACN_CHECK(!ec, "cannot rename ", tmp, " to ", path, ": ", ec.message());
  fsync_directory(dir);
}

void append_file_synced(const std::string& path, const std::string& content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  DCACN_CHECK(fd >= 0, "cannot append to ", path, ": ", std::strerror(errno));
  struct stat before {};
  const bool sized = ::fstat(fd, &before) == 0;
  const bool written = write_all(fd, content) && ::fsync(fd) == 0;
  const int err = errno;
  // A write cut short (a full disk) would leave a torn line: cut the file back to where it was.
  if (!written && sized) {
    (void)!::ftruncate(fd, before.st_size);
    ::fsync(fd);
  }
  ::close(fd);
  DCACN_CHECK(written, "cannot append to ", path, " (", with_thousands(content.size()),
              " bytes): ", std::strerror(err), "; the file is as it was before");
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
              " bytes is not a whole number of ", with_thousands(rec), "-byte ", what, "s (",
              with_thousands(size / rec), " records + ", with_thousands(size % rec),
              " bytes; expected ", with_thousands(size / rec * rec), " or ",
              with_thousands((size / rec + 1) * rec), " bytes)");
  const int64_t count = static_cast<int64_t>(size / rec);
  check_fits_in_memory(size, path, c10::str(with_thousands(count), " ", what, "s"));
  torch::Tensor out = torch::empty({count, record_bytes}, torch::kUInt8);
  std::ifstream in(path, std::ios::binary);
  DCACN_CHECK(in, "cannot open ", path, ": ", std::strerror(errno));
  DCACN_CHECK(
      in.read(reinterpret_cast<char*>(out.data_ptr<uint8_t>()), static_cast<std::streamsize>(size)),
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
