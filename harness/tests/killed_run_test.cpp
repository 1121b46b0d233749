// A `flakelab run` killed with SIGKILL loses at most the trials in flight and the last
// moment's (issue 16.6): every trial it had finished more than ~1 s before the kill is in
// the database; its temporary root is removed by the next run, a live run's never.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "flakelab/base/temp_dir.h"
#include "flakelab/harness/run_temp_root.h"
#include "flakelab/results/store.h"

namespace flakelab::harness {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The trials a progress line says were recorded ("0:03 cells 0/1, 42/100000 trials, ...").
std::optional<int64_t> trials_in(const std::string& line) {
  long long done = 0, total = 0;
  int cells_done = 0, cells = 0;
  if (std::sscanf(line.c_str(), "%*d:%*d cells %d/%d, %lld/%lld trials", &cells_done, &cells, &done, &total) != 4) {
    return std::nullopt;
  }
  return done;
}

struct ProgressLine {
  Clock::time_point at;
  int64_t trials;
};

class KilledRun : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directory(tmp_);
    db_ = (dir_ / "t.db").string();
  }

  // Starts `flakelab run ARGS --db DB` with TMPDIR in the test's directory, a progress
  // line every 100 ms, and stderr on a pipe read as it comes.
  pid_t spawn(const std::vector<std::string>& args) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork");
    if (pid == 0) {
      const int out = ::open((dir_ / "stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
      if (out < 0 || ::dup2(out, 1) < 0 || ::dup2(fds[1], 2) < 0 || ::chdir(dir_.c_str()) != 0) ::_exit(126);
      ::setenv("TMPDIR", tmp_.c_str(), 1);
      ::setenv("FLAKELAB_PROGRESS_INTERVAL", "100ms", 1);
      std::vector<std::string> all{FLAKELAB_BIN, "run"};
      all.insert(all.end(), args.begin(), args.end());
      all.insert(all.end(), {"--db", db_});
      std::vector<char*> argv;
      for (std::string& arg : all) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(FLAKELAB_BIN, argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    err_fd_ = fds[0];
    return pid;
  }

  // Reads stderr until `until`; keeps every progress line with its arrival time.
  void read_stderr_until(Clock::time_point until) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) return;
      pollfd pfd{err_fd_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(err_fd_, buf, sizeof buf);
      if (n <= 0) return;
      const auto now = Clock::now();
      pending_.append(buf, static_cast<size_t>(n));
      for (size_t nl; (nl = pending_.find('\n')) != std::string::npos; pending_.erase(0, nl + 1)) {
        const std::string line = pending_.substr(0, nl);
        err_ += line + "\n";
        if (auto trials = trials_in(line)) lines_.push_back({now, *trials});
      }
    }
  }

  // Runs ARGS until a progress line counts a trial, then 1.5 s more, then SIGKILL; checks
  // that the database holds every trial counted by a line printed >= 1 s before the kill.
  void kill_and_check(const std::vector<std::string>& args) {
    const pid_t pid = spawn(args);
    const auto give_up = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < give_up && (lines_.empty() || lines_.back().trials == 0)) {
      read_stderr_until(Clock::now() + std::chrono::milliseconds(50));
    }
    ASSERT_FALSE(lines_.empty() || lines_.back().trials == 0) << "no trial finished within 60 s:\n" << err_;
    read_stderr_until(Clock::now() + std::chrono::milliseconds(1500));
    const auto killed_at = Clock::now();
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ::close(err_fd_);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before the kill:\n" << err_;

    int64_t finished_long_before = 0;
    for (const ProgressLine& line : lines_) {
      if (killed_at - line.at >= std::chrono::seconds(1)) finished_long_before = line.trials;
    }
    ASSERT_GT(finished_long_before, 0) << err_;
    results::Store store(db_);
    const std::vector<int64_t> runs = store.run_ids();
    ASSERT_EQ(runs.size(), 1u);
    const std::vector<results::TrialRecord> trials = store.trials(runs[0]);
    EXPECT_GE(static_cast<int64_t>(trials.size()), finished_long_before)
        << "lost trials recorded more than 1 s before the kill; stderr:\n" << err_;
    // What is there is whole: one worker ran trials 0, 1, 2, ... in order.
    for (size_t i = 0; i < trials.size(); ++i) EXPECT_EQ(trials[i].index, static_cast<int64_t>(i));

    // The killed run's temporary root is left; the next run removes it.
    std::vector<fs::path> roots = run_roots();
    ASSERT_EQ(roots.size(), 1u) << "the killed run left no root under " << tmp_;
    const pid_t next = spawn({"selftest/coin", "-n", "1", "--param", "p=0"});
    read_stderr_until(Clock::now() + std::chrono::seconds(60));
    ASSERT_EQ(::waitpid(next, &status, 0), next);
    ::close(err_fd_);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << err_;
    EXPECT_EQ(run_roots(), std::vector<fs::path>{}) << "the dead run's root was not removed";
  }

  std::vector<fs::path> run_roots() const {
    std::vector<fs::path> roots;
    for (const auto& entry : fs::directory_iterator(tmp_)) {
      if (entry.path().filename().string().rfind(RunTempRoot::kPrefix, 0) == 0) roots.push_back(entry.path());
    }
    return roots;
  }

  const base::TempDir temp_{::testing::TempDir(), "flakelab-killed-"};
  const fs::path dir_ = temp_.path();
  const fs::path tmp_ = dir_ / "tmp";
  std::string db_;
  int err_fd_ = -1;
  std::string pending_, err_;
  std::vector<ProgressLine> lines_;
};

TEST_F(KilledRun, FastTrialsFinishedASecondBeforeTheKillAreKept) {
  // ~80 trials/s: far fewer than a batch of 256 in the 1.5 s before the kill.
  kill_and_check({"selftest/noop", "-n", "1000000", "--param", "sleep_ms=10", "--seed", "1"});
}

TEST_F(KilledRun, CrThreadsTrialsFinishedASecondBeforeTheKillAreKept) {
  kill_and_check({"cr/threads", "-n", "100000", "--seed", "1"});
}

TEST_F(KilledRun, Scm06TrialsFinishedASecondBeforeTheKillAreKept) {
  kill_and_check({"scm06", "-n", "100000", "--seed", "1"});
}

// A root whose owner lock is free is stale and goes; one whose lock is held (a live run:
// here a child holding it, as a concurrent flakelab would) stays, and so does a lock-less
// root younger than RunTempRoot::kUnlockedRootAge (a run between mkdtemp and its lock).
TEST(RunTempRoot, RemovesOnlyRootsWhoseOwnerIsDead) {
  const base::TempDir parent(::testing::TempDir(), "flakelab-roots-");
  const fs::path dead = fs::path(parent.path()) / "flakelab-run-dead01";
  const fs::path unlocked = fs::path(parent.path()) / "flakelab-run-young1";
  const fs::path other = fs::path(parent.path()) / "not-a-run-root";
  // As a killed run leaves it: trial dirs and an owner lock nobody holds.
  auto make_dead_root = [&] {
    fs::create_directories(dead / "cell1-trial3");
    std::FILE* lock = std::fopen((dead / RunTempRoot::kLockName).c_str(), "w");
    ASSERT_NE(lock, nullptr);
    std::fprintf(lock, "pid 999999 start 1\n");
    std::fclose(lock);
  };
  make_dead_root();
  fs::create_directories(unlocked);
  fs::create_directories(other);

  // A live root, owned by a child that holds its lock until told to go.
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t owner = ::fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {
    try {
      RunTempRoot root(parent.path());
      const std::string path = root.path();
      (void)!::write(ready[1], path.c_str(), path.size());
      char c;
      (void)!::read(go[0], &c, 1);
    } catch (...) {
      ::_exit(1);
    }
    ::_exit(0);
  }
  char buf[4096] = {};
  ASSERT_GT(::read(ready[0], buf, sizeof buf - 1), 0);
  const fs::path live = buf;
  EXPECT_FALSE(fs::exists(dead)) << "the live root's constructor removes the stale one";
  make_dead_root();  // again, for remove_stale_roots itself
  EXPECT_EQ(RunTempRoot::remove_stale_roots(parent.path()), 1);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(live / RunTempRoot::kLockName)) << "a live run's root was removed";
  EXPECT_TRUE(fs::exists(unlocked));
  EXPECT_TRUE(fs::exists(other));

  ASSERT_EQ(::write(go[1], "x", 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(owner, &status, 0), owner);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_FALSE(fs::exists(live)) << "a run removes its own root when it ends";
  for (int fd : {go[0], go[1], ready[0], ready[1]}) ::close(fd);
}

}  // namespace
}  // namespace flakelab::harness
