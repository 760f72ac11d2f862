#pragma once
// File helpers shared by the readers and writers.

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dcacn {

/// Whole file as bytes. Gzip files (magic 1f 8b) are decompressed transparently when
/// `gunzip` is true. Throws InputError naming the file when it is missing or unreadable.
std::vector<uint8_t> read_file_bytes(const std::string& path, bool gunzip = false);

/// True when a regular file exists at `path`.
bool is_file(const std::string& path);
/// True when a directory exists at `path`.
bool is_directory(const std::string& path);

/// Writes `content` to `path` through a temporary file in the same directory and a rename,
/// fsyncing the file before the rename and the folder after it, so that neither a crash nor a
/// power cut leaves a half-written file behind. InputError (the previous file intact) when
/// the disk is full.
void write_file_atomic(const std::string& path, const std::string& content);

/// Appends `content` to `path` (created if missing) and fsyncs it.
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
