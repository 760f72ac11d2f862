#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dcacn/util/log.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // Progress lines of the training tests would bury the test output; warnings still show.
  dcacn::set_log_level(dcacn::LogLevel::kWarning);
  return RUN_ALL_TESTS();
}
