#include "flakelab/results/report.h"
#include "flakelab/results/stats.h"

#include <gtest/gtest.h>

#include <string>

namespace flakelab::results {
namespace {

RunSummary stack_summary() {
  RunSummary s;
  s.run_id = 3;
  s.scenario = "compel/stack";
  s.params = "check=legacy,adjacent_writer=on";
  s.placement = "victim=0,injector=1";
  s.trials = 2000;
  s.passes = 1873;
  s.failures = 127;
  s.rate = 127.0 / 2000.0;
  const Interval interval = wilson_interval(127, 2000);
  s.wilson_low = interval.low;
  s.wilson_high = interval.high;
  s.messages = {{"Saved data unexpectedly modified at 0x7f... (offset 12)", 127}};
  return s;
}

TEST(TextReport, FailingRun) {
  EXPECT_EQ(format_summary_text(stack_summary()),
            "run 3  compel/stack  check=legacy,adjacent_writer=on  placement victim=0,injector=1\n"
            "  trials 2000  pass 1873  fail 127  timeout 0  error 0\n"
            "  failure rate 6.35%  (95% Wilson 5.36% .. 7.51%)\n"  // high end rounded up (rate_format.h)
            "  messages:\n"
            "     127  Saved data unexpectedly modified at 0x7f... (offset 12)\n");
}

TEST(TextReport, ZeroFailuresGiveTheUpperBound) {
  RunSummary s = stack_summary();
  s.params = "check=guard_zone,adjacent_writer=on";
  s.passes = 1998;
  s.failures = 0;
  s.errors = 2;
  s.rate = 0;
  s.wilson_low = 0;
  s.wilson_high = wilson_interval(0, 2000).high;
  s.messages = {{"seize 812: Operation not permitted", 2}};
  // 1 - 0.05^(1/2000) = 0.14967%: rounded up, never down.
  EXPECT_EQ(format_summary_text(s),
            "run 3  compel/stack  check=guard_zone,adjacent_writer=on  placement victim=0,injector=1\n"
            "  trials 2000  pass 1998  fail 0  timeout 0  error 2\n"
            "  0 failures; rate < 0.150% at 95% (upper bound 1-0.05^(1/2000))\n"
            "  messages:\n"
            "       2  seize 812: Operation not permitted\n");
}

TEST(TextReport, SmallRatesKeepSignificantDigits) {
  RunSummary s;
  s.run_id = 9;
  s.scenario = "scm06";
  s.placement = "unpinned";
  s.trials = 100000;
  s.passes = 99997;
  s.timeouts = 3;
  s.rate = 3e-5;
  const Interval interval = wilson_interval(3, 100000);
  s.wilson_low = interval.low;
  s.wilson_high = interval.high;
  s.messages = {{"", 3}};
  EXPECT_EQ(format_summary_text(s),
            "run 9  scm06  -  placement unpinned\n"
            "  trials 100000  pass 99997  fail 0  timeout 3  error 0\n"
            "  failure rate 0.00300%  (95% Wilson 0.00102% .. 0.00883%)\n"
            "  messages:\n"
            "       3  (no message)\n");
}

TEST(TextReport, NoTrials) {
  RunSummary s;
  s.run_id = 1;
  s.scenario = "compel/stack";
  s.params = "check=legacy";
  s.placement = "same-pu";
  s.wilson_high = 1;
  EXPECT_EQ(format_summary_text(s),
            "run 1  compel/stack  check=legacy  placement same-pu\n"
            "  trials 0  pass 0  fail 0  timeout 0  error 0\n"
            "  no trials recorded; failure rate unknown\n");
}

TEST(TextReport, MessagesAreOneLineTruncatedAndLimited) {
  RunSummary s = stack_summary();
  s.messages = {
      {"Trimmed message received\nparasite: recv 12 of 24 bytes", 1234567},
      {std::string(10, 'x') + "\xc3\xa9" + "tail", 3},  // "é" straddles the cut below
      {"third", 2},
      {"fourth", 1},
  };
  TextReportOptions options;
  options.max_messages = 2;
  options.max_message_bytes = 11;
  const std::string text = format_summary_text(s, options);
  const std::string messages = text.substr(text.find("  messages:\n"));
  EXPECT_EQ(messages,
            "  messages:\n"
            "  1234567  Trimmed mes...\n"
            "        3  xxxxxxxxxx...\n"
            "        3  (2 more distinct messages)\n");
}

TEST(TextReport, SignaturesOnlyWhenAsked) {
  RunSummary s = stack_summary();
  s.signatures = {{"badd9ec3c6a61031", "Saved data unexpectedly modified at <hex> (offset <n>)", 120},
                  {"0123456789abcdef", "Trimmed message received (<n>/<n>)", 7}};
  const std::string plain = format_summary_text(s);
  EXPECT_EQ(plain.find("signatures:"), std::string::npos) << "default output unchanged";
  TextReportOptions options;
  options.show_signatures = true;
  options.max_messages = 1;
  const std::string text = format_summary_text(s, options);
  EXPECT_NE(text.find("  signatures:\n"
                      "     120  badd9ec3c6a61031  Saved data unexpectedly modified at <hex> (offset <n>)\n"
                      "       7  (1 more signatures)\n"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace flakelab::results
