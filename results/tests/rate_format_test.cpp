#include "flakelab/results/rate_format.h"

#include <gtest/gtest.h>

#include <random>

namespace flakelab::results {
namespace {

// The case the cell table once got wrong: 0 failures in 1234 trials bound the rate at
// 0.24247%, so the claim is "< 0.243%", not "< 0.242%".
TEST(RateFormat, ZeroFailureBoundIsRoundedUp) {
  const double bound = zero_failure_upper_bound(1234);
  EXPECT_NEAR(bound * 100, 0.24247, 1e-5);
  EXPECT_EQ(format_upper_bound(bound), "< 0.243%");
  EXPECT_EQ(format_upper_bound(zero_failure_upper_bound(2000)), "< 0.150%");
  EXPECT_EQ(format_upper_bound(zero_failure_upper_bound(1000)), "< 0.300%");
}

TEST(RateFormat, DigitsAndDirections) {
  EXPECT_EQ(format_percent(0.0635, Round::kNearest), "6.35%");
  EXPECT_EQ(format_percent(0.00003, Round::kNearest), "0.00300%");
  EXPECT_EQ(format_percent(0, Round::kNearest), "0.00%");
  EXPECT_EQ(format_percent(1, Round::kUp), "100.00%");
  EXPECT_EQ(format_percent(0.0015, Round::kUp), "0.150%");  // exact values stay put
  EXPECT_EQ(format_percent(0.0015, Round::kDown), "0.150%");
  EXPECT_EQ(format_percent(0.012341, Round::kUp), "1.24%");
  EXPECT_EQ(format_percent(0.012349, Round::kDown), "1.23%");
  EXPECT_EQ(format_interval({0.0535, 0.07502}), "5.35% .. 7.51%");
  EXPECT_EQ(format_interval({0.0535, 0.07502}, ".."), "5.35%..7.51%");
}

// The rule in general: the printed upper bound is never below the true one and the printed
// lower bound never above it, whatever the counts.
TEST(RateFormat, PrintedBoundsNeverClaimMoreThanTheData) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    const int64_t trials = std::uniform_int_distribution<int64_t>(1, 2'000'000)(rng);
    const int64_t failures = std::uniform_int_distribution<int64_t>(0, trials / 50)(rng);
    const Interval w = wilson_interval(failures, trials);
    const double printed_high = std::stod(format_percent(w.high, Round::kUp)) / 100;
    const double printed_low = std::stod(format_percent(w.low, Round::kDown)) / 100;
    EXPECT_GE(printed_high, w.high * (1 - 1e-9)) << failures << "/" << trials;
    EXPECT_LE(printed_low, w.low * (1 + 1e-9) + 1e-15) << failures << "/" << trials;
    const double bound = zero_failure_upper_bound(trials);
    EXPECT_GE(std::stod(format_upper_bound(bound).substr(2)) / 100, bound * (1 - 1e-9)) << trials;
  }
}

}  // namespace
}  // namespace flakelab::results
