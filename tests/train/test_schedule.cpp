#include <cmath>

#include "../test_util.h"
#include "dcacn/run/config.h"
#include "dcacn/train/schedule.h"

namespace dcacn {
namespace {

TEST(Schedule, ConstantKeepsTheRateAndCosineDecaysItToZero) {
  const auto constant = LrSchedule::kConstant, cosine = LrSchedule::kCosine;
  for (double f : {0.0, 0.3, 1.0}) EXPECT_DOUBLE_EQ(scheduled_lr(2e-3, constant, f), 2e-3);
  EXPECT_DOUBLE_EQ(scheduled_lr(2e-3, cosine, 0.0), 2e-3);
  EXPECT_NEAR(scheduled_lr(2e-3, cosine, 0.5), 1e-3, 1e-15);
  EXPECT_NEAR(scheduled_lr(2e-3, cosine, 1.0), 0.0, 1e-15);
  EXPECT_NEAR(scheduled_lr(2e-3, cosine, 0.25), 1e-3 * (1 + std::sqrt(0.5)), 1e-15);
  double previous = scheduled_lr(2e-3, cosine, 0.0);
  for (int i = 1; i <= 100; ++i) {
    const double lr = scheduled_lr(2e-3, cosine, i / 100.0);
    EXPECT_LT(lr, previous);
    previous = lr;
  }
}

TEST(Schedule, TheFractionFollowsWhicheverBudgetEndsFirst) {
  StageBudget b;
  b.epochs(10);
  EXPECT_DOUBLE_EQ(budget_fraction(b, 25, 10, 1e6), 0.25);  // epochs only: 25 of 100 steps
  b.steps(50);
  EXPECT_DOUBLE_EQ(budget_fraction(b, 25, 10, 1e6), 0.5);
  b.minutes(2);
  EXPECT_DOUBLE_EQ(budget_fraction(b, 25, 10, 90.0), 0.75);  // 90 of 120 s
  EXPECT_DOUBLE_EQ(budget_fraction(b, 25, 10, 30.0), 0.5);   // the steps lead
  EXPECT_DOUBLE_EQ(budget_fraction(b, 80, 10, 500.0), 1.0);  // clamped
  EXPECT_DOUBLE_EQ(budget_fraction(StageBudget().minutes(4), 1000, 10, 60.0), 0.25);
}

TEST(Schedule, UnknownSchedulesAreRefusedByName) {
  TrainConfig c;
  c.lr_schedule = "linear";
  test::expect_error_containing([&] { c.validate(); }, {"--lr-schedule", "linear"});
  test::expect_error_containing([&] { parse_lr_schedule("linear"); }, {"--lr-schedule", "linear"});
  c.lr_schedule = "cosine";
  EXPECT_EQ(TrainConfig::from_json(c.to_json()).lr_schedule, "cosine");
}

}  // namespace
}  // namespace dcacn
