// CIFAR-10 and CIFAR-100 binary batches: the input is the test batch of both layouts.
#include "dcacn/data/cifar.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dcacn;
  fuzz::write_input("cifar10/cifar-10-batches-bin/test_batch.bin", data, size);
  fuzz::write_input("cifar100/cifar-100-binary/test.bin", data, size);
  fuzz::expect_clean([&] { load_cifar10(fuzz::scratch() + "/cifar10", Split::kTest); });
  fuzz::expect_clean([&] { load_cifar100(fuzz::scratch() + "/cifar100", Split::kTest); });
  return 0;
}
