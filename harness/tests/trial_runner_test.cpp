// TrialRunner in-process, with scenarios defined here. Scenario code runs in the trial
// process, so it reports through its verdict and message, never through gtest macros.
#include "flakelab/harness/trial_runner.h"

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <functional>
#include <thread>

#include "flakelab/harness/binding.h"
#include "flakelab/harness/topology.h"
#include "flakelab/harness/unique_fd.h"
#include "process_scan.h"

namespace flakelab::harness {
namespace {

using results::Outcome;
using scenarios::Role;
using scenarios::TrialContext;
using scenarios::TrialResult;

class LambdaScenario : public scenarios::Scenario {
 public:
  explicit LambdaScenario(std::function<TrialResult(TrialContext&)> body)
      : body_(std::move(body)) {}
  std::string name() const override { return "test/lambda"; }
  std::string description() const override { return "test body"; }
  TrialResult run(TrialContext& ctx) override { return body_(ctx); }

 private:
  std::function<TrialResult(TrialContext&)> body_;
};

std::string link_of(const std::string& path) {
  char buf[256];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n < 0 ? "(unreadable " + path + ")" : std::string(buf, static_cast<size_t>(n));
}

using testing::processes_named;

// Forks a grandchild named `name` that sleeps 30 s; fails the trial unless it is alive.
std::optional<TrialResult> leave_sleeper_behind(const char* name) {
  pid_t pid = ::fork();
  if (pid < 0) return TrialResult::error("fork");
  if (pid == 0) {
    ::prctl(PR_SET_NAME, name, 0, 0, 0);
    ::sleep(30);
    ::_exit(0);
  }
  for (int i = 0; i < 1000 && processes_named(name).empty(); ++i) ::usleep(1000);
  if (processes_named(name).empty()) return TrialResult::error("sleeper did not start");
  return std::nullopt;
}

class TrialRunnerTest : public ::testing::Test {
 protected:
  TrialOutcome run(std::function<TrialResult(TrialContext&)> body, Placement placement = {},
                   double timeout_s = 10, std::map<std::string, std::string> params = {},
                   int64_t index = 0, uint64_t seed = 0) {
    LambdaScenario scenario(std::move(body));
    TrialRunner runner(topology_, placement, TrialOptions{timeout_s});
    return runner.run(scenario, params, index, seed);
  }
  Topology topology_;
};

TEST_F(TrialRunnerTest, TrialIsInitOfItsOwnPidMountAndNetworkNamespaces) {
  const std::string pid_ns = link_of("/proc/self/ns/pid");
  const std::string net_ns = link_of("/proc/self/ns/net");
  const std::string mnt_ns = link_of("/proc/self/ns/mnt");
  TrialOutcome outcome = run([&](TrialContext&) {
    std::string problems;
    if (::getpid() != 1) problems += fmt::format(" pid={}", ::getpid());
    if (link_of("/proc/self") != "1") problems += " /proc/self=" + link_of("/proc/self");
    if (link_of("/proc/self/ns/pid") == pid_ns) problems += " same pid ns";
    if (link_of("/proc/self/ns/net") == net_ns) problems += " same net ns";
    if (link_of("/proc/self/ns/mnt") == mnt_ns) problems += " same mnt ns";
    return problems.empty() ? TrialResult::pass() : TrialResult::fail(problems);
  });
  EXPECT_EQ(outcome.outcome, Outcome::kPass) << outcome.message;
  EXPECT_GT(outcome.duration_ms, 0);
  // The host's /proc is untouched by the trial's private mount.
  EXPECT_NE(link_of("/proc/self"), "1");
}

TEST_F(TrialRunnerTest, PassesSeedIndexAndParams) {
  TrialOutcome outcome = run(
      [](TrialContext& ctx) {
        return TrialResult::fail(fmt::format("{} {} {}", ctx.seed, ctx.index, ctx.param("k")));
      },
      {}, 10, {{"k", "v"}}, 42, 0xfeedfacecafebeefULL);
  EXPECT_EQ(outcome.outcome, Outcome::kFail);
  EXPECT_EQ(outcome.message, fmt::format("{} 42 v", 0xfeedfacecafebeefULL));
}

TEST_F(TrialRunnerTest, VerdictsMapToOutcomes) {
  EXPECT_EQ(run([](TrialContext&) { return TrialResult::pass(); }).outcome, Outcome::kPass);
  TrialOutcome fail = run([](TrialContext&) { return TrialResult::fail("bad"); });
  EXPECT_EQ(fail.outcome, Outcome::kFail);
  EXPECT_EQ(fail.message, "bad");
  TrialOutcome error = run([](TrialContext&) { return TrialResult::error("broken"); });
  EXPECT_EQ(error.outcome, Outcome::kError);
  EXPECT_EQ(error.message, "broken");
}

TEST_F(TrialRunnerTest, AnExceptionIsAnErrorWithItsMessage) {
  TrialOutcome outcome =
      run([](TrialContext&) -> TrialResult { throw std::runtime_error("no victim today"); });
  EXPECT_EQ(outcome.outcome, Outcome::kError);
  EXPECT_EQ(outcome.message, "no victim today");
}

TEST_F(TrialRunnerTest, ExitingWithoutAResultIsAnErrorNamingTheStatus) {
  TrialOutcome outcome = run([](TrialContext&) -> TrialResult { ::_exit(7); });
  EXPECT_EQ(outcome.outcome, Outcome::kError);
  EXPECT_EQ(outcome.message, "trial process exited with status 7 without writing a result");
}

TEST_F(TrialRunnerTest, ACrashIsAnErrorNamingTheSignal) {
  TrialOutcome outcome = run([](TrialContext&) -> TrialResult {
    void* page = ::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ::signal(SIGSEGV, SIG_DFL);
    *static_cast<volatile char*>(page) = 1;
    return TrialResult::pass();
  });
  EXPECT_EQ(outcome.outcome, Outcome::kError);
  EXPECT_EQ(outcome.message, "trial process killed by signal 11 (Segmentation fault)");
}

TEST_F(TrialRunnerTest, EverythingTheTrialStartedIsGoneWhenItEnds) {
  TrialOutcome outcome = run([](TrialContext&) {
    if (auto bad = leave_sleeper_behind("flk-rt-left")) return *bad;
    if (auto bad = leave_sleeper_behind("flk-rt-left")) return *bad;
    return TrialResult::pass();
  });
  EXPECT_EQ(outcome.outcome, Outcome::kPass) << outcome.message;
  EXPECT_EQ(processes_named("flk-rt-left"), std::vector<pid_t>{});
}

TEST_F(TrialRunnerTest, ATrialOverItsTimeIsKilledWithEverythingItStarted) {
  const auto start = std::chrono::steady_clock::now();
  TrialOutcome outcome = run(
      [](TrialContext&) {
        if (auto bad = leave_sleeper_behind("flk-rt-timeout")) return *bad;
        ::sleep(20);
        return TrialResult::pass();
      },
      {}, 0.3);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(outcome.outcome, Outcome::kTimeout);
  EXPECT_EQ(outcome.message, "timeout after 0.3s (SIGABRT)");
  EXPECT_GE(outcome.duration_ms, 300);
  EXPECT_LT(elapsed, std::chrono::seconds(3));
  EXPECT_EQ(processes_named("flk-rt-timeout"), std::vector<pid_t>{});
}

TEST_F(TrialRunnerTest, TheTrialGetsOnlyStdioAndItsResultPipe) {
  UniqueFd extra(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(extra);
  const int extra_fd = extra.get();
  TrialOutcome outcome = run([extra_fd](TrialContext&) {
    std::vector<int> open_fds;
    for (int fd = 0; fd < 1024; ++fd) {
      if (::fcntl(fd, F_GETFD) >= 0) open_fds.push_back(fd);
    }
    // Stdio (whichever of 0, 1, 2 the test runner left open) and the result pipe.
    const auto beyond_stdio = std::count_if(open_fds.begin(), open_fds.end(),
                                            [](int fd) { return fd > 2; });
    if (beyond_stdio > 1 ||
        std::find(open_fds.begin(), open_fds.end(), extra_fd) != open_fds.end()) {
      std::string list;
      for (int fd : open_fds) {
        list += ' ';
        list += std::to_string(fd);
      }
      return TrialResult::fail("open fds:" + list);
    }
    return TrialResult::pass();
  });
  EXPECT_EQ(outcome.outcome, Outcome::kPass) << outcome.message;
}

TEST_F(TrialRunnerTest, TheTrialRunsPinnedAsTheInjectorAndRecordsIt) {
  const int cpu = topology_.pus().back();
  Placement placement;
  placement.set(Role::kInjector, cpu);
  TrialOutcome outcome = run(
      [cpu](TrialContext& ctx) {
        if (ctx.cpu_of(Role::kInjector) != cpu) return TrialResult::fail("cpu_of(injector)");
        if (ctx.cpu_of(Role::kVictim).has_value()) return TrialResult::fail("cpu_of(victim)");
        std::vector<int> now = thread_affinity(0);
        if (now != std::vector<int>{cpu}) {
          return TrialResult::fail("trial affinity " + format_cpu_list(now));
        }
        return TrialResult::pass();
      },
      placement);
  EXPECT_EQ(outcome.outcome, Outcome::kPass) << outcome.message;
  EXPECT_EQ(outcome.cpus_used, fmt::format("injector={}", cpu));
}

TEST_F(TrialRunnerTest, AVictimOffItsCpuMakesTheTrialAnError) {
  if (topology_.pus().size() < 2) GTEST_SKIP() << "needs 2 usable CPUs";
  Placement placement;
  placement.set(Role::kVictim, topology_.pus()[0]);
  TrialOutcome outcome = run(
      [](TrialContext& ctx) {
        pid_t pid = ::fork();  // never calls bind_self: it may run anywhere
        if (pid == 0) {
          ::pause();
          ::_exit(0);
        }
        ctx.record_binding(Role::kVictim, pid);
        return TrialResult::pass();
      },
      placement);
  EXPECT_EQ(outcome.outcome, Outcome::kError);
  EXPECT_NE(outcome.message.find("binding check: victim pid 2 thread 2 may run on CPUs "),
            std::string::npos)
      << outcome.message;
}

}  // namespace
}  // namespace flakelab::harness
