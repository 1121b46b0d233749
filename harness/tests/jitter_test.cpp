#include "flakelab/harness/jitter.h"

#include <gtest/gtest.h>

#include "flakelab/harness/error.h"

namespace flakelab::harness {
namespace {

TEST(Jitter, ParsesAllPointsOrNamedOnes) {
  scenarios::Scenario* infect = scenarios::find_scenario("compel/infect");
  ASSERT_NE(infect, nullptr);
  EXPECT_EQ(parse_jitter("2ms", *infect).canonical(), "before_cure:2000us;before_seize:2000us;between_rpcs:2000us");
  EXPECT_EQ(parse_jitter("between_rpcs=500us,before_seize=7us", *infect).canonical(),
            "before_seize:7us;between_rpcs:500us");
  EXPECT_TRUE(parse_jitter("", *infect).empty());
  EXPECT_THROW(parse_jitter("between_rpcs=500us,between_rpcs=1ms", *infect), UsageError);
  EXPECT_THROW(parse_jitter("between_rpcs=forever", *infect), UsageError);
  EXPECT_THROW(parse_jitter("11s", *infect), UsageError);
  EXPECT_THROW(parse_jitter("1500ns", *infect), UsageError);  // delays are drawn in whole microseconds
  try {
    parse_jitter("before_seize=5", *infect);  // a bare number once meant microseconds here
    ADD_FAILURE();
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--jitter 'before_seize=5': '5': no unit (", 0), 0u) << e.what();
  }
  scenarios::Scenario* coin = scenarios::find_scenario("selftest/coin");
  try {
    parse_jitter("1ms", *coin);
    ADD_FAILURE();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "--jitter: scenario selftest/coin has no jitter points");
  }
}

TEST(Jitter, DelaysComeFromTheSeedAndStayInRange) {
  JitterSpec spec;
  spec.max_us = {{"a", 1000}, {"b", 0}};
  Jitter one(spec, 42), same(spec, 42), other(spec, 43);
  int differ = 0;
  for (int i = 0; i < 100; ++i) {
    const int64_t d = one.next_delay_us("a");
    EXPECT_GE(d, 0);
    EXPECT_LE(d, 1000);
    EXPECT_EQ(d, same.next_delay_us("a"));
    if (d != other.next_delay_us("a")) ++differ;
    EXPECT_EQ(one.next_delay_us("b"), 0);
    EXPECT_EQ(one.next_delay_us("not-configured"), 0);
  }
  EXPECT_GT(differ, 90);
}

}  // namespace
}  // namespace flakelab::harness
