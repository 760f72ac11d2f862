#include <sys/resource.h>
#include <torch/torch.h>

#include <cstdlib>
#include <vector>

#include "../test_util.h"
#include "dcacn/util/allocator.h"

namespace dcacn {
namespace {

long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// DCACN_MALLOC_TUNING=0, and the user's own glibc malloc settings, leave glibc's defaults.
TEST(Allocator, TheEnvironmentCanKeepGlibcsDefaults) {
  struct Case {
    const char *variable, *value, *said;
  };
  for (const Case& c : {Case{"DCACN_MALLOC_TUNING", "0", "DCACN_MALLOC_TUNING=0"},
                        Case{"MALLOC_TRIM_THRESHOLD_", "1000000", "environment"},
                        Case{"MALLOC_MMAP_THRESHOLD_", "1000000", "environment"},
                        Case{"GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1", "environment"}}) {
    ASSERT_EQ(setenv(c.variable, c.value, 1), 0);
    const AllocatorTuning t = tune_allocator();
    unsetenv(c.variable);
    EXPECT_FALSE(t.applied) << c.variable;
    EXPECT_NE(t.what.find(c.said), std::string::npos) << c.variable << ": " << t.what;
  }
}

#if defined(__GLIBC__)
// The point of the settings: the tensors of a step (here nine of 1-20 MiB, held together, then
// freed) are served from the same pages at every step once the heap has grown, not faulted in
// afresh. With glibc's defaults the same loop faults 5,120 pages (20 MiB) in at every step
// without end; with the settings, none from the fifth step on.
TEST(Allocator, AStepsTensorsAreNotFaultedInAgainAtEveryStep) {
  const AllocatorTuning t = tune_allocator();
  ASSERT_TRUE(t.applied) << t.what;
  auto step = [] {
    std::vector<torch::Tensor> live;
    for (int64_t mib : {6, 3, 12, 1, 6, 20, 2, 6, 3})
      live.push_back(torch::ones({mib << 18}, torch::kFloat32));  // mib MiB, written
    return live.size();
  };
  for (int i = 0; i < 5; ++i) step();  // the heap grows to the step's size
  const long before = minor_faults();
  for (int i = 0; i < 5; ++i) step();
  const long faults = minor_faults() - before;
  EXPECT_LT(faults, 1000) << "5 steps of 59 MiB of tensors took " << faults
                          << " minor page faults (25,600 with glibc's defaults)";
}
#endif

}  // namespace
}  // namespace dcacn
