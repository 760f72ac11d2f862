// A checkpoint someone sent (a PyTorch zip archive with pickles and tensors).
#include "dcacn/run/checkpoint.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dcacn;
  const std::string path = fuzz::write_input("last.pt", data, size);
  fuzz::expect_clean([&] { load_checkpoint(path); });
  return 0;
}
