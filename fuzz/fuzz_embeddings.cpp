// An embeddings.pt someone sent (a pickled dict of tensors, as torch.save writes it).
#include "dcacn/io/embeddings.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dcacn;
  const std::string path = fuzz::write_input("embeddings.pt", data, size);
  fuzz::expect_clean([&] { read_embeddings_pt(path); });
  return 0;
}
