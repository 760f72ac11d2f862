#include "dcacn/util/allocator.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace dcacn {

AllocatorTuning tune_allocator() {
  AllocatorTuning t;
  const char* off = std::getenv("DCACN_MALLOC_TUNING");
  if (off != nullptr && std::strcmp(off, "0") == 0) {
    t.what = "DCACN_MALLOC_TUNING=0: glibc's defaults";
    return t;
  }
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr ||
      std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr ||
      (tunables != nullptr && std::strstr(tunables, "glibc.malloc") != nullptr)) {
    t.what = "the environment's malloc settings";
    return t;
  }
#if defined(__GLIBC__)
  constexpr int kMmapThreshold = 32 << 20;  // glibc refuses more on 64-bit systems
  constexpr int kTrimThreshold = 1 << 30;
  t.applied = mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1 &&
              mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1;
  t.what = t.applied ? "glibc malloc: mmap threshold 32 MiB, trim threshold 1 GiB"
                     : "glibc refused the malloc settings";
#else
  t.what = "not glibc: the C library's defaults";
#endif
  return t;
}

}  // namespace dcacn
