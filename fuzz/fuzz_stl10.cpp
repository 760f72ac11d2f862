// STL-10 binaries: the first byte tells where the input splits into test_X.bin and test_y.bin
// (that many 1/256ths of it go to the labels).
#include "dcacn/data/stl10.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dcacn;
  if (size == 0) return 0;
  const size_t labels = (size - 1) * data[0] / 256;
  const uint8_t* body = data + 1;
  const size_t images = size - 1 - labels;
  fuzz::write_input("stl10/stl10_binary/test_X.bin", body, images);
  fuzz::write_input("stl10/stl10_binary/test_y.bin", body + images, labels);
  fuzz::expect_clean([&] { load_stl10(fuzz::scratch() + "/stl10", Split::kTest); });
  return 0;
}
