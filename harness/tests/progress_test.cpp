#include "flakelab/harness/progress.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

namespace flakelab::harness {
namespace {

TEST(Progress, LineHasCountsSpeedRateIntervalAndEta) {
  ProgressState s;
  s.done = 400;
  s.total = 1000;
  s.failing = 20;
  s.elapsed_s = 2;
  EXPECT_EQ(format_progress("compel/stack", s),
            "compel/stack: 400/1000, 200 trials/s, 20 failed, rate 5.00% (3.25%..7.60%), ETA 0:03");
  s.budget_left_s = 1.2;  // --max-time ends the cell sooner
  EXPECT_EQ(format_progress("x", s), "x: 400/1000, 200 trials/s, 20 failed, rate 5.00% (3.25%..7.60%), ETA 0:02");
  ProgressState start;
  start.total = 10;
  EXPECT_EQ(format_progress("x", start), "x: 0/10, 0 trials/s, 0 failed");
}

TEST(Progress, WithoutATerminalPrintsPlainLinesAtMostEveryFewSeconds) {
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* out = ::open_memstream(&buf, &size);
  ASSERT_NE(out, nullptr);
  {
    Progress progress("coin", out, false);
    ProgressState s;
    s.total = 100;
    for (int i = 1; i <= 100; ++i) {
      s.done = i;
      progress.update(s);  // all within far less than the plain interval
    }
    progress.finish(s);
  }
  std::fclose(out);
  const std::string text(buf, size);
  std::free(buf);
  EXPECT_EQ(text, "") << "nothing printed yet, so nothing to finish";
}

TEST(Progress, OnATerminalRewritesOneLineAndEndsIt) {
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* out = ::open_memstream(&buf, &size);
  ASSERT_NE(out, nullptr);
  {
    Progress progress("coin", out, true);
    ProgressState s;
    s.total = 10;
    s.done = 5;
    s.elapsed_s = 1;
    ::usleep(250 * 1000);  // past the terminal refresh interval
    progress.update(s);
    s.done = 10;
    s.elapsed_s = 2;
    progress.finish(s);
  }
  std::fclose(out);
  const std::string text(buf, size);
  std::free(buf);
  EXPECT_EQ(text,
            "\rcoin: 5/10, 5 trials/s, 0 failed, rate 0.00% (0.00%..43.45%), ETA 0:01\033[K"
            "\rcoin: 10/10, 5 trials/s, 0 failed, rate 0.00% (0.00%..27.76%)\033[K\n");
}

}  // namespace
}  // namespace flakelab::harness
