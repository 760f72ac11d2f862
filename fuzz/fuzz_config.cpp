// A run's config.json, as --resume and the commands that read a run take it.
#include "dcacn/run/config.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dcacn;
  fuzz::write_input("run/config.json", data, size);
  fuzz::expect_clean([&] { read_run_config(fuzz::scratch() + "/run").validate(); });
  return 0;
}
