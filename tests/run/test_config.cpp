#include "../test_util.h"
#include "dcacn/run/config.h"

namespace dcacn {
namespace {

TEST(Config, KRangeIsParsedAndValidated) {
  EXPECT_EQ(parse_k_range("2-30", "--k-range"), (std::pair<int64_t, int64_t>{2, 30}));
  EXPECT_EQ(parse_k_range("5-5", "--k-range"), (std::pair<int64_t, int64_t>{5, 5}));
  for (const std::string bad : {"1-5", "6-5", "5", "-5", "2-", "a-b", "2-30x", "2--3"}) {
    test::expect_error_containing([&] { parse_k_range(bad, "--k-range"); },
                                  {"--k-range must be A-B", "'" + bad + "'"});
  }
  TrainConfig c;
  c.k_range = "2-30";
  EXPECT_NO_THROW(c.validate());
  EXPECT_EQ(TrainConfig::from_json(c.to_json()).k_range, "2-30");
  c.k_range = "30-2";
  test::expect_error_containing([&] { c.validate(); }, {"--k-range", "'30-2'"});
}

TEST(Config, KCriterionDefaultsToStabilityAndRoundTrips) {
  TrainConfig c;
  EXPECT_EQ(c.k_criterion, "stability");
  c.k_criterion = "heads";
  EXPECT_EQ(TrainConfig::from_json(c.to_json()).k_criterion, "heads");
  // A config.json written before the key existed: that run estimated K by stability.
  nlohmann::json old = c.to_json();
  old.erase("k_criterion");
  EXPECT_EQ(TrainConfig::from_json(old).k_criterion, "stability");
  c.k_criterion = "gap";
  test::expect_error_containing([&] { c.validate(); }, {"--k-criterion", "'gap'"});
}

}  // namespace
}  // namespace dcacn
