// TrialRunner in-process, with scenarios defined here. Scenario code runs in the trial
// process, so it reports through its verdict and message, never through gtest macros.
#include "flakelab/harness/trial_runner.h"

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <regex>
#include <functional>
#include <thread>
#include <cstddef>

#include "flakelab/base/unique_fd.h"
#include "flakelab/harness/binding.h"
#include "flakelab/harness/topology.h"
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

TEST_F(TrialRunnerTest, TrialRunsInItsHostsOwnPidMountAndNetworkNamespaces) {
  const std::string pid_ns = link_of("/proc/self/ns/pid");
  const std::string net_ns = link_of("/proc/self/ns/net");
  const std::string mnt_ns = link_of("/proc/self/ns/mnt");
  TrialOutcome outcome = run([&](TrialContext&) {
    std::string problems;
    // The host is init of the namespaces; /proc is the namespace's own.
    if (::getppid() != 1) problems += fmt::format(" parent={}", ::getppid());
    if (link_of("/proc/self") != std::to_string(::getpid())) problems += " /proc/self=" + link_of("/proc/self");
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
  // Recognized by name: in the trial, its fd number may well be the result pipe's.
  base::UniqueFd extra(::memfd_create("flk-extra-fd", MFD_CLOEXEC));
  ASSERT_TRUE(extra);
  TrialOutcome outcome = run([](TrialContext&) {
    std::vector<int> open_fds;
    bool extra_inherited = false;
    for (int fd = 0; fd < 1024; ++fd) {
      if (::fcntl(fd, F_GETFD) < 0) continue;
      open_fds.push_back(fd);
      extra_inherited |= link_of(fmt::format("/proc/self/fd/{}", fd)).find("flk-extra-fd") != std::string::npos;
    }
    // Stdio (whichever of 0, 1, 2 the test runner left open) and the result pipe.
    const auto beyond_stdio = std::count_if(open_fds.begin(), open_fds.end(),
                                            [](int fd) { return fd > 2; });
    if (beyond_stdio > 1 || extra_inherited) {
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
  EXPECT_TRUE(std::regex_search(outcome.message, std::regex("binding check: victim pid ([0-9]+) thread \\1 may run on CPUs ")))
      << outcome.message;
}

// Runs `scenario` as trial `index` in `host` (a new one if null) to its end; `host` then
// holds the host if it may run the next trial. `while_running` sees the trial in flight.
TrialOutcome run_in(const TrialRunner& runner, scenarios::Scenario& scenario,
                    const std::map<std::string, std::string>& params, std::unique_ptr<TrialHost>& host,
                    int64_t index, const std::function<void(RunningTrial&)>& while_running = {}) {
  TrialRequest request;
  request.scenario = &scenario;
  request.params = &params;
  request.index = index;
  std::unique_ptr<RunningTrial> trial = runner.start(request, std::move(host));
  if (while_running) while_running(*trial);
  while (!trial->done()) wait_for_trials({trial.get()}, RunningTrial::Clock::time_point::max());
  TrialOutcome outcome = trial->finish();
  host = trial->take_host();
  return outcome;
}

// The trial's verdict carries data here: "net:[...] pid:[...]".
TrialResult namespaces_as_message() {
  return TrialResult::fail(link_of("/proc/self/ns/net") + " " + link_of("/proc/self/ns/pid"));
}

// Binds the abstract unix name @`name`; nullopt on success, an error otherwise. The
// socket stays open (a process forked afterwards holds it too).
std::optional<TrialResult> bind_abstract(const std::string& name) {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ::memcpy(addr.sun_path + 1, name.data(), name.size());
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    return TrialResult::error(fmt::format("bind @{}: {}", name, ::strerror(errno)));
  }
  return std::nullopt;
}

TEST_F(TrialRunnerTest, AHostRunsTheNextTrialOnlyAfterEverythingOfTheLastIsGone) {
  // Trial 0 leaves a process behind that holds an abstract name; trial 1, in the same
  // host and namespaces, must see neither.
  LambdaScenario scenario([](TrialContext& ctx) {
    if (ctx.index == 0) {
      if (auto bad = bind_abstract("flk-rt-reuse")) return *bad;
      if (auto bad = leave_sleeper_behind("flk-rt-reuse")) return *bad;
    } else {
      if (!processes_named("flk-rt-reuse").empty()) return TrialResult::error("trial 0's process is still there");
      if (auto bad = bind_abstract("flk-rt-reuse")) return *bad;
    }
    return namespaces_as_message();
  });
  const std::map<std::string, std::string> params;
  TrialRunner runner(topology_, TrialOptions{});
  std::unique_ptr<TrialHost> host;
  const TrialOutcome first = run_in(runner, scenario, params, host, 0);
  ASSERT_EQ(first.outcome, Outcome::kFail) << first.message;
  EXPECT_FALSE(first.netns_renewed);
  ASSERT_TRUE(host) << "a clean host is reused";
  const pid_t host_pid = host->pid();
  const TrialOutcome second = run_in(runner, scenario, params, host, 1);
  ASSERT_EQ(second.outcome, Outcome::kFail) << second.message;
  EXPECT_EQ(second.message, first.message) << "same namespaces";
  ASSERT_TRUE(host);
  EXPECT_EQ(host->pid(), host_pid);
  EXPECT_EQ(processes_named("flk-rt-reuse"), std::vector<pid_t>{});
}

TEST_F(TrialRunnerTest, ASocketLeftInTheNetworkNamespaceMovesTheHostToANewOne) {
  // Something outside the trial's processes (here: this test, through setns) keeps a
  // socket in the trial's network namespace, as an in-flight unix socket can.
  char marker_template[] = "/tmp/flk-rt-marker-XXXXXX";
  const int marker_fd = ::mkstemp(marker_template);
  ASSERT_GE(marker_fd, 0);
  ::close(marker_fd);
  ::unlink(marker_template);
  const std::string marker = marker_template;
  LambdaScenario scenario([marker](TrialContext& ctx) {
    if (ctx.index == 0) {
      for (int i = 0; i < 5000 && ::access(marker.c_str(), F_OK) != 0; ++i) ::usleep(1000);
    } else if (auto bad = bind_abstract("flk-rt-held")) {
      return *bad;
    }
    return namespaces_as_message();
  });
  const std::map<std::string, std::string> params;
  TrialRunner runner(topology_, TrialOptions{});
  std::unique_ptr<TrialHost> host;
  int held = -1;
  const TrialOutcome first = run_in(runner, scenario, params, host, 0, [&](RunningTrial& trial) {
    base::UniqueFd netns(::open(fmt::format("/proc/{}/ns/net", trial.host_pid()).c_str(), O_RDONLY | O_CLOEXEC));
    std::thread([&] {  // setns changes only this thread's network namespace
      if (netns && ::setns(netns.get(), CLONE_NEWNET) == 0) {
        held = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        ::memcpy(addr.sun_path + 1, "flk-rt-held", 11);
        if (::bind(held, reinterpret_cast<const sockaddr*>(&addr), offsetof(sockaddr_un, sun_path) + 12) != 0) {
          ::close(held);
          held = -1;
        }
      }
    }).join();
    base::UniqueFd(::open(marker.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  });
  ::unlink(marker.c_str());
  ASSERT_GE(held, 0) << "could not bind in the trial's network namespace";
  base::UniqueFd held_socket(held);
  ASSERT_EQ(first.outcome, Outcome::kFail) << first.message;
  EXPECT_TRUE(first.netns_renewed);
  ASSERT_TRUE(host) << "the host stays, in a new network namespace";
  const TrialOutcome second = run_in(runner, scenario, params, host, 1);
  ASSERT_EQ(second.outcome, Outcome::kFail) << second.message;
  EXPECT_NE(second.message.substr(0, second.message.find(' ')), first.message.substr(0, first.message.find(' ')))
      << "a new network namespace";
  EXPECT_EQ(second.message.substr(second.message.find(' ')), first.message.substr(first.message.find(' ')))
      << "the same pid namespace";
}

TEST_F(TrialRunnerTest, FreshNamespacesGiveEveryTrialANewHost) {
  LambdaScenario scenario([](TrialContext&) { return TrialResult::pass(); });
  const std::map<std::string, std::string> params;
  TrialOptions options;
  options.reuse_host = false;
  TrialRunner runner(topology_, options);
  std::unique_ptr<TrialHost> host;
  EXPECT_EQ(run_in(runner, scenario, params, host, 0).outcome, Outcome::kPass);
  EXPECT_FALSE(host);
}

}  // namespace
}  // namespace flakelab::harness
