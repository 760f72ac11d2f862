#pragma once
// File helpers shared by the readers and writers.

#include <torch/types.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace dcacn {

/// Whole file as bytes. Gzip files (magic 1f 8b) are decompressed transparently when
/// `gunzip` is true. Throws InputError naming the file when it is missing or unreadable.
std::vector<uint8_t> read_file_bytes(const std::string& path, bool gunzip = false);

/// Sequential reader of a file that is gunzipped on the fly when it is gzip (magic 1f 8b) and
/// `gunzip` is set. It inflates only as much as is asked for, so a small compressed file that
/// inflates to gigabytes costs no more memory than its reader decides to take.
class FileReader {
 public:
  /// Throws InputError naming the file when it is missing, a folder or unreadable.
  FileReader(const std::string& path, bool gunzip);
  ~FileReader();
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  /// Reads up to `n` bytes into `dst`; fewer only at the end of the data. InputError when a
  /// gzip stream is damaged or cut short.
  size_t read(void* dst, size_t n);
  /// True when the file is gzip and read() returns its inflated bytes.
  bool gzipped() const { return gz_ != nullptr; }
  /// Size of the file on disk.
  uint64_t file_size() const { return file_size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  uint64_t file_size_ = 0;
  void* gz_ = nullptr;          // gzFile
  std::FILE* plain_ = nullptr;  // when not gzip
};

/// Bytes of memory this process may take for one allocation of input data: the machine's
/// physical memory (or the address-space limit, when lower). Readers check what a header
/// declares against it before they allocate.
uint64_t memory_limit_bytes();

/// Throws InputError before an allocation of `bytes` that could not fit in memory:
/// "<path>: <what> needs N bytes, more than the M bytes of memory of this machine".
void check_fits_in_memory(uint64_t bytes, const std::string& path, const std::string& what);

/// True when a regular file exists at `path`.
bool is_file(const std::string& path);
/// True when a directory exists at `path`.
bool is_directory(const std::string& path);

/// Writes `content` to `path` through a temporary file in the same directory and a rename,
/// fsyncing the file before the rename and the folder after it, so that neither a crash nor a
/// power cut leaves a half-written file behind. InputError (the previous file intact) when
/// the disk is full.
void write_file_atomic(const std::string& path, const std::string& content);

/// Appends `content` to `path` (created if missing) and fsyncs it. InputError when the disk is
/// full, with the file cut back to its previous size (no torn line).
void append_file_synced(const std::string& path, const std::string& content);

/// fsyncs a folder, so that the renames and new entries in it survive a power cut.
void fsync_directory(const std::string& dir);

/// "1,234,567" style grouping for byte counts in messages.
std::string with_thousands(uint64_t value);

}  // namespace dcacn

namespace dcacn {

/// Reads a headerless file of fixed-size records straight into a [num_records, record_bytes]
/// uint8 tensor (no intermediate copy: STL-10's unlabeled file is 2.7 GB). Throws InputError
/// naming the file when its size is not a whole number of records or it is empty.
/// `what` names a record in messages ("CIFAR-10 record").
torch::Tensor read_fixed_records(const std::string& path, int64_t record_bytes,
                                 const std::string& what);

/// Text lines of a small file, trailing whitespace removed, empty lines dropped.
std::vector<std::string> read_lines(const std::string& path);

}  // namespace dcacn
