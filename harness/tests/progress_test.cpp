#include "flakelab/harness/progress.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "flakelab/base/temp_dir.h"
#include "flakelab/harness/error.h"

namespace flakelab::harness {
namespace {

TEST(Progress, LineHasCellsTrialsSpeedFailuresAndEta) {
  RunProgress p;
  p.cells_done = 3;
  p.cells = 51;
  p.done = 1200;
  p.total = 10200;
  p.failing = 2;
  p.elapsed_s = 10.5;
  EXPECT_EQ(format_progress(p), "0:10 cells 3/51, 1200/10200 trials, 114 trials/s, 2 failed, ETA 1:19");
  p.errors = 1;
  p.budget_left_s = 30;  // --max-time ends the run sooner
  EXPECT_EQ(format_progress(p), "0:10 cells 3/51, 1200/10200 trials, 114 trials/s, 2 failed, 1 error, ETA 0:30");
  RunProgress slow;
  slow.cells = 1;
  slow.total = 100;
  slow.done = 3;
  slow.elapsed_s = 65;
  EXPECT_EQ(format_progress(slow), "1:05 cells 0/1, 3/100 trials, 0.05 trials/s, 0 failed, ETA 35:02");
  RunProgress start;
  start.cells = 2;
  start.total = 10;
  EXPECT_EQ(format_progress(start), "0:00 cells 0/2, 0/10 trials, 0 trials/s, 0 failed");
}

TEST(Progress, IntervalComesFromTheEnvironmentAndABadOneIsAUsageError) {
  ::unsetenv(kProgressIntervalEnv);
  EXPECT_EQ(progress_interval_from_env(), std::chrono::seconds(5));
  ::setenv(kProgressIntervalEnv, "250ms", 1);
  EXPECT_EQ(progress_interval_from_env(), std::chrono::milliseconds(250));
  for (const char* bad : {"soon", "0s"}) {
    ::setenv(kProgressIntervalEnv, bad, 1);
    try {
      progress_interval_from_env();
      ADD_FAILURE() << bad << " was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("FLAKELAB_PROGRESS_INTERVAL")), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
  ::unsetenv(kProgressIntervalEnv);
}

// Like go stress: with stderr piped (not a terminal), one line per interval of the whole
// run, not restarted per cell. The default is 5 s; here 500 ms and a 1.2 s budget stand
// for a 5 s interval and a 12 s run: two lines, trial counts rising across both cells.
TEST(Progress, APipedRunPrintsOneLinePerIntervalOfTheWholeRun) {
  const base::TempDir dir(::testing::TempDir(), "flakelab-progress-");
  ::setenv(kProgressIntervalEnv, "500ms", 1);
  const testing::Ran ran = testing::finish_flakelab(
      dir.path(), testing::spawn_flakelab(dir.path(), {"run", "selftest/noop", "-n", "1000000", "--param",
                                                       "sleep_ms=5", "--placement", "unpinned,same-pu",
                                                       "--max-time", "1.2s", "--seed", "7", "--db",
                                                       dir.path() + "/t.db"}));
  ::unsetenv(kProgressIntervalEnv);
  ASSERT_EQ(ran.code, 0) << testing::describe(ran);
  std::vector<std::string> lines;
  std::istringstream err(ran.err);
  for (std::string line; std::getline(err, line);) {
    if (line.find(" trials/s, ") != std::string::npos) lines.push_back(line);
  }
  ASSERT_EQ(lines.size(), 2u) << testing::describe(ran);
  long long done[2] = {0, 0}, total[2] = {0, 0};
  int seconds[2] = {-1, -1}, cells_done[2] = {-1, -1}, cells[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(std::sscanf(lines[i].c_str(), "0:%d cells %d/%d, %lld/%lld trials", &seconds[i], &cells_done[i],
                          &cells[i], &done[i], &total[i]),
              5)
        << lines[i];
    EXPECT_EQ(cells[i], 2) << lines[i];
  }
  // 0.5 s: in the first cell (its share of --max-time is 0.6 s); 1.0 s: in the second,
  // the first cell's unrun trials gone from the total.
  EXPECT_EQ(seconds[0], 0);
  EXPECT_EQ(cells_done[0], 0);
  EXPECT_EQ(total[0], 2000000);
  EXPECT_EQ(seconds[1], 1);
  EXPECT_EQ(cells_done[1], 1);
  EXPECT_LT(total[1], 2000000);
  EXPECT_GT(done[0], 0) << lines[0];
  EXPECT_GT(done[1], done[0]) << lines[1];
}

}  // namespace
}  // namespace flakelab::harness
