// IDX files (MNIST, Fashion-MNIST), raw and gzipped: the first byte picks the form.
#include "dcacn/data/idx.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dcacn;
  if (size == 0) return 0;
  const std::string path = fuzz::write_input("images", data + 1, size - 1, (data[0] & 1) != 0);
  fuzz::expect_clean([&] { read_idx_ubyte(path, 3); });
  fuzz::expect_clean([&] { read_idx_ubyte(path, 1); });
  return 0;
}
