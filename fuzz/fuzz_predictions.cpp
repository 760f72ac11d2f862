// The predictions CSV that `dcacn score` reads.
#include "dcacn/io/predictions.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dcacn;
  const std::string path = fuzz::write_input("predictions.csv", data, size);
  fuzz::expect_clean([&] { read_predictions_csv(path); });
  return 0;
}
