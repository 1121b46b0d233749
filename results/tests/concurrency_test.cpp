// Several writers on one database file, as when many harness processes share a results file.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <thread>

#include "flakelab/results/store.h"
#include "raw_db.h"
#include "temp_dir.h"

namespace flakelab::results {
namespace {

using testing::RawDb;
using testing::TempDir;

HostInfo shared_host() {
  HostInfo host;
  host.hostname = "stress-box";
  host.cpu_vendor = "GenuineIntel";
  host.cpu_brand = "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz";
  host.cpu_family = 6;
  host.cpu_model = 106;
  host.cpu_stepping = 6;
  host.cpu_codename = "Ice Lake-SP";
  host.kernel = "6.18.0";
  return host;
}

// Runs in a forked child: opens its own Store (connections must not cross fork()), records
// one run and returns the exit status.
int write_run(const std::string& path, int writer, int trials) {
  try {
    Store store(path, /*batch_size=*/64);  // small batches so the writers interleave a lot
    const int64_t host_id = store.upsert_host(shared_host());
    RunInfo info;
    info.scenario = "scm06";
    info.placement = "writer=" + std::to_string(writer);
    info.seed = static_cast<uint64_t>(writer);
    const int64_t run_id = store.begin_run(host_id, info);
    for (int i = 0; i < trials; ++i) {
      TrialRecord trial;
      trial.index = i;
      trial.outcome = i % 7 == 0 ? Outcome::kFail : Outcome::kPass;
      trial.duration_ms = 0.5;
      trial.message = trial.outcome == Outcome::kFail ? "unix: Can't bind: Address already in use" : "";
      store.add_trial(run_id, trial);
    }
    store.end_run(run_id, 1);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "writer %d: %s\n", writer, e.what());
    return 1;
  }
}

TEST(StoreConcurrency, TwoProcessesWriteOneFile) {
  TempDir dir;
  const std::string path = dir.file("shared.db");
  constexpr int kTrialsPerWriter = 5000;

  // Both children block on the pipe until the parent closes it, so they create the schema,
  // the host row and their batches at the same time.
  int start[2];
  ASSERT_EQ(pipe(start), 0);
  pid_t children[2] = {-1, -1};
  for (int writer = 0; writer < 2; ++writer) {
    const pid_t pid = fork();
    if (pid == 0) {
      close(start[1]);
      char byte;
      const ssize_t got = read(start[0], &byte, 1);  // 0 at EOF: go
      (void)got;
      _exit(write_run(path, writer, kTrialsPerWriter));
    }
    children[writer] = pid;
  }
  close(start[0]);
  close(start[1]);
  for (pid_t pid : children) {
    ASSERT_GT(pid, 0) << "fork failed";
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer status " << status;
  }

  RawDb raw(path);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM trials"), 2 * kTrialsPerWriter);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM runs"), 2);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM hosts"), 1) << "both writers share one host row";

  Store store(path);
  for (int64_t run_id : store.run_ids()) {
    const RunSummary summary = store.summarize(run_id);
    EXPECT_EQ(summary.trials, kTrialsPerWriter);
    EXPECT_EQ(summary.failures, (kTrialsPerWriter + 6) / 7);
    const auto trials = store.trials(run_id);
    ASSERT_EQ(trials.size(), static_cast<size_t>(kTrialsPerWriter));
    EXPECT_EQ(trials.front().index, 0);
    EXPECT_EQ(trials.back().index, kTrialsPerWriter - 1);
  }
}

// Runs in a forked child: 10,000 trials, every 20th failing with a message whose numbers vary,
// so all writers upsert the same two signatures concurrently.
int write_failing_run(const std::string& path, int writer, int trials) {
  try {
    Store store(path);  // default batch size
    RunInfo info;
    info.scenario = "scm06";
    info.placement = "writer=" + std::to_string(writer);
    const int64_t run_id = store.begin_run(store.upsert_host(shared_host()), info);
    for (int i = 0; i < trials; ++i) {
      TrialRecord trial;
      trial.index = i;
      trial.outcome = i % 20 == 19 ? Outcome::kFail : Outcome::kPass;
      if (trial.outcome == Outcome::kFail) {
        trial.message = i % 40 == 39 ? "unix: Can't bind id 0x" + std::to_string(writer) + " ino " +
                                           std::to_string(433398 + i) + " addr : Address already in use"
                                     : "Trimmed message received (" + std::to_string(i % 64) + "/0)";
      }
      store.add_trial(run_id, trial);
    }
    store.end_run(run_id, 1);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "writer %d: %s\n", writer, e.what());
    return 1;
  }
}

TEST(StoreConcurrency, FourProcessesWithFailuresAndSignatures) {
  TempDir dir;
  const std::string path = dir.file("shared.db");
  constexpr int kWriters = 4;
  constexpr int kTrials = 10000;
  int start[2];
  ASSERT_EQ(pipe(start), 0);
  pid_t children[kWriters];
  for (int writer = 0; writer < kWriters; ++writer) {
    const pid_t pid = fork();
    if (pid == 0) {
      close(start[1]);
      char byte;
      const ssize_t got = read(start[0], &byte, 1);
      (void)got;
      _exit(write_failing_run(path, writer, kTrials));
    }
    children[writer] = pid;
  }
  close(start[0]);
  close(start[1]);
  for (pid_t pid : children) {
    ASSERT_GT(pid, 0) << "fork failed";
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer status " << status;
  }
  RawDb raw(path);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM trials"), kWriters * kTrials);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM failures"), kWriters * kTrials / 20);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM signatures"), 2);
  EXPECT_EQ(raw.integer("SELECT sum(count) FROM signatures"), kWriters * kTrials / 20);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM signatures s WHERE count <> "
                        "(SELECT count(*) FROM failures f WHERE f.signature_id = s.id)"),
            0);
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
}

TEST(StoreConcurrency, SigkillMidRunLeavesAReadableDatabase) {
  TempDir dir;
  const std::string path = dir.file("killed.db");
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(ready[0]);
    try {
      Store store(path, 64);
      RunInfo info;
      info.scenario = "compel/stack";
      const int64_t run_id = store.begin_run(store.upsert_host(shared_host()), info);
      for (int64_t i = 0;; ++i) {
        TrialRecord trial;
        trial.index = i;
        trial.outcome = i % 10 == 9 ? Outcome::kFail : Outcome::kPass;
        if (trial.outcome == Outcome::kFail) trial.message = "Saved data unexpectedly modified at 0x" + std::to_string(i);
        store.add_trial(run_id, trial);
        if (i == 5000) {
          const char byte = 1;
          const ssize_t put = write(ready[1], &byte, 1);  // several batches are on disk: kill me
          (void)put;
        }
      }
    } catch (...) {
    }
    _exit(1);
  }
  close(ready[1]);
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1);
  close(ready[0]);
  kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  RawDb raw(path);
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
  const int64_t trials = raw.integer("SELECT count(*) FROM trials");
  EXPECT_GE(trials, 4992);
  EXPECT_EQ(trials % 64, 0) << "only whole batches";
  EXPECT_EQ(raw.integer("SELECT count(*) FROM failures"), trials / 10);
  EXPECT_EQ(raw.integer("SELECT sum(count) FROM signatures"), trials / 10);
  Store store(path);  // opens and works
  EXPECT_EQ(store.summarize(store.run_ids().front()).trials, trials);
}

TEST(StoreConcurrency, WriterWaitsForAnotherWritersLock) {
  TempDir dir;
  const std::string path = dir.file("locked.db");
  Store store(path, /*batch_size=*/1000);
  RunInfo info;
  info.scenario = "compel/stack";
  const int64_t run_id = store.begin_run(store.upsert_host(shared_host()), info);
  for (int i = 0; i < 10; ++i) {
    TrialRecord trial;
    trial.index = i;
    store.add_trial(run_id, trial);
  }

  constexpr auto kHold = std::chrono::milliseconds(300);
  std::promise<void> locked;
  std::thread other([&] {
    RawDb raw(path);
    raw.exec("BEGIN IMMEDIATE");
    locked.set_value();
    std::this_thread::sleep_for(kHold);
    raw.exec("COMMIT");
  });
  locked.get_future().wait();
  const auto begin = std::chrono::steady_clock::now();
  EXPECT_NO_THROW(store.flush()) << "busy_timeout should wait out the other writer";
  const auto waited = std::chrono::steady_clock::now() - begin;
  other.join();
  EXPECT_GE(waited, kHold - std::chrono::milliseconds(50));
  EXPECT_EQ(store.trials(run_id).size(), 10u);
}

}  // namespace
}  // namespace flakelab::results
