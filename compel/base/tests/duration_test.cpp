#include "flakelab/base/duration.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace flakelab::base {
namespace {

using namespace std::chrono_literals;

TEST(Duration, EveryUnit) {
  EXPECT_EQ(parse_duration("7ns"), 7ns);
  EXPECT_EQ(parse_duration("500us"), 500us);
  EXPECT_EQ(parse_duration("2ms"), 2ms);
  EXPECT_EQ(parse_duration("90s"), 90s);
  EXPECT_EQ(parse_duration("2.5m"), 150s);
  EXPECT_EQ(parse_duration("1h"), 3600s);
  EXPECT_EQ(parse_duration("0"), 0ns);
  EXPECT_EQ(parse_duration("0us"), 0ns);
}

TEST(Duration, FractionsAreExact) {
  EXPECT_EQ(parse_duration("1.5us"), 1500ns);
  EXPECT_EQ(parse_duration("0.001s"), 1ms);
  EXPECT_EQ(parse_duration("1.250ms"), 1250us);
  EXPECT_THROW(parse_duration("1.5ns"), std::invalid_argument);
  EXPECT_EQ(parse_duration("1.0ns"), 1ns);
}

TEST(Duration, BareNumbersAndJunkAreRefused) {
  for (const char* bad : {"5", "90", "", "us", "-1s", "1.s", ".5s", "1..5s", "5d", "5 s", "1e3us", "5sec"}) {
    EXPECT_THROW(parse_duration(bad), std::invalid_argument) << bad;
  }
}

TEST(Duration, ErrorSaysWhatIsExpected) {
  try {
    parse_duration("5");
    FAIL() << "a bare number must be refused";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "'5': no unit (a duration is a number and a unit: ns, us, ms, s, m or h, e.g. 500us, 2.5s)");
  }
}

TEST(Duration, Overflow) {
  EXPECT_EQ(parse_duration("9223372036854775807ns").count(), INT64_MAX);
  EXPECT_THROW(parse_duration("9223372036854775808ns"), std::invalid_argument);
  EXPECT_THROW(parse_duration("99999999999h"), std::invalid_argument);
  EXPECT_THROW(parse_duration("99999999999999999999999s"), std::invalid_argument);
}

TEST(Duration, FormatRoundTrips) {
  EXPECT_EQ(format_duration(1500us), "1500us");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(120s), "2m");
  EXPECT_EQ(format_duration(0ns), "0");
  EXPECT_EQ(format_duration(7ns), "7ns");
  for (std::chrono::nanoseconds d : {1ns, 999ns, 1000ns, 1001000ns, 3601000000000ns, 7200000000000ns})
    EXPECT_EQ(parse_duration(format_duration(d)), d) << d.count();
}

}  // namespace
}  // namespace flakelab::base
