#include <cmath>

#include "../test_util.h"
#include "dcacn/train/schedule.h"

namespace dcacn {
namespace {

TEST(Schedule, ConstantKeepsTheRateAndCosineDecaysItToZero) {
  TrainConfig c;
  c.lr = 2e-3;
  for (double f : {0.0, 0.3, 1.0}) EXPECT_DOUBLE_EQ(scheduled_lr(c, f), 2e-3);
  c.lr_schedule = "cosine";
  EXPECT_DOUBLE_EQ(scheduled_lr(c, 0.0), 2e-3);
  EXPECT_NEAR(scheduled_lr(c, 0.5), 1e-3, 1e-15);
  EXPECT_NEAR(scheduled_lr(c, 1.0), 0.0, 1e-15);
  EXPECT_NEAR(scheduled_lr(c, 0.25), 1e-3 * (1 + std::sqrt(0.5)), 1e-15);
  double previous = scheduled_lr(c, 0.0);
  for (int i = 1; i <= 100; ++i) {
    const double lr = scheduled_lr(c, i / 100.0);
    EXPECT_LT(lr, previous);
    previous = lr;
  }
}

TEST(Schedule, TheFractionFollowsWhicheverBudgetEndsFirst) {
  TrainConfig c;
  c.epochs = 10;
  EXPECT_DOUBLE_EQ(budget_fraction(c, 25, 10, 1e6), 0.25);  // epochs only: 25 of 100 steps
  c.max_steps = 50;
  EXPECT_DOUBLE_EQ(budget_fraction(c, 25, 10, 1e6), 0.5);
  c.time_budget_minutes = 2;
  EXPECT_DOUBLE_EQ(budget_fraction(c, 25, 10, 90.0), 0.75);  // 90 of 120 s
  EXPECT_DOUBLE_EQ(budget_fraction(c, 25, 10, 30.0), 0.5);   // the steps lead
  EXPECT_DOUBLE_EQ(budget_fraction(c, 80, 10, 500.0), 1.0);  // clamped
}

TEST(Schedule, UnknownSchedulesAreRefusedByName) {
  TrainConfig c;
  c.lr_schedule = "linear";
  test::expect_error_containing([&] { c.validate(); }, {"--lr-schedule", "linear"});
  test::expect_error_containing([&] { scheduled_lr(c, 0.5); }, {"--lr-schedule", "linear"});
  c.lr_schedule = "cosine";
  EXPECT_EQ(TrainConfig::from_json(c.to_json()).lr_schedule, "cosine");
}

}  // namespace
}  // namespace dcacn
