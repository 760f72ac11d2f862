#pragma once
// Shared by the fuzz targets: each target's parser reads files, so an input is written to a
// file in a per-process scratch folder first. A parser may refuse an input with
// dcacn::InputError (a bad file, told to the user) or c10::Error (LibTorch's own checks); any
// other exception, a crash, a sanitizer report, a leak or an allocation past libFuzzer's
// -rss_limit_mb is a finding.

#include <c10/util/Exception.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

#include "dcacn/util/error.h"
#include "dcacn/util/log.h"

namespace dcacn::fuzz {

/// The scratch folder of this process (created on first use).
inline const std::string& scratch() {
  static const std::string dir = [] {
    std::string d = std::filesystem::temp_directory_path().string() + "/dcacn-fuzz-" +
                    std::to_string(::getpid());
    std::filesystem::create_directories(d);
    set_log_level(LogLevel::kQuiet);
    return d;
  }();
  return dir;
}

/// Writes `size` bytes to scratch()/name (gzip-compressed when `gzip`); returns the path.
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size,
                               bool gzip = false) {
  const std::string path = scratch() + "/" + name;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb1");
    if (size > 0) gzwrite(f, data, static_cast<unsigned>(size));
    gzclose(f);
  } else {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (size > 0) std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  return path;
}

/// Runs `parse`; the refusals a user may see are fine, anything else escapes to libFuzzer.
inline void expect_clean(const std::function<void()>& parse) {
  try {
    parse();
  } catch (const InputError&) {
  } catch (const c10::Error&) {
  }
}

}  // namespace dcacn::fuzz
