// selftest/noop: a trial that passes. With no params it measures the harness's own
// per-trial cost; its params exercise the harness's isolation, timeout and binding.
#include <fmt/core.h>
#include <sys/prctl.h>
#include <time.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <charconv>
#include <cstddef>
#include <cstring>
#include <chrono>
#include <fstream>
#include <thread>

#include "flakelab/scenarios/scenario.h"
#include "posix.h"

namespace flakelab::scenarios {
namespace {

using selftest::Child;
using selftest::Fd;
using selftest::os_error;
using selftest::Pipe;

// The name a leaked child gives itself, so a test can look for it in /proc.
constexpr const char* kLeakName = "flk-noop-leak";
constexpr unsigned kLeakSeconds = 60;
// The abstract unix socket name litter=on binds (per trial network namespace).
constexpr const char* kLitterName = "flakelab-noop-litter";

void sleep_ms(long ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// Writes all of `data` or gives up silently (used only in children about to _exit).
void write_all_quiet(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Forks a child that outlives the scenario on purpose: only the harness's pid
// namespace teardown can remove it before kLeakSeconds.
void leak_child() {
  pid_t pid = ::fork();
  if (pid < 0) throw os_error("fork (leak_child)");
  if (pid == 0) {
    ::prctl(PR_SET_NAME, kLeakName, 0, 0, 0);
    ::sleep(kLeakSeconds);
    ::_exit(0);
  }
  // Deliberately not owned by a Child guard: leaking it is the point.
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) != 0) {
    throw std::runtime_error(fmt::format("leaked child {} exited at once", pid));
  }
}

// Leaves things behind that only the harness's isolation removes: an abstract unix
// socket name (bound in the trial's network namespace, fd left open) and a file in the
// trial's temp dir.
void litter(const TrialContext& ctx) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw os_error("socket(AF_UNIX) (litter)");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string name = std::string(kLitterName);  // abstract: leading NUL
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    throw os_error("bind abstract @" + name + " (litter; another trial's name visible?)");
  }
  // The fd is deliberately not closed: the trial's end must take the name away.
  const std::string dir = ctx.temp_dir.empty() ? "/tmp" : ctx.temp_dir;
  std::ofstream(dir + "/noop-litter.txt") << "left behind by selftest/noop\n";
}

// Burns CPU for `us` microseconds (a CPU-bound trial for throughput measurements).
void busy(long us) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  volatile uint64_t x = 1;
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < 1000; ++i) x = x * 6364136223846793005ULL + 1;
  }
}

// Forks a victim that pins itself (bind_self), starts a second thread, and waits;
// the trial records the binding of both threads through record_binding.
TrialResult spawn_victim(TrialContext& ctx) {
  Pipe ready = Pipe::make();
  Pipe go = Pipe::make();
  pid_t pid = ::fork();
  if (pid < 0) throw os_error("fork (victim)");
  if (pid == 0) {
    ready.read.reset();
    go.write.reset();
    try {
      ctx.bind_self(Role::kVictim);
      const int go_fd = go.read.get();
      std::thread waiter([go_fd] {
        char byte;
        while (::read(go_fd, &byte, 1) < 0 && errno == EINTR) {
        }
      });
      write_all_quiet(ready.write.get(), "R");
      waiter.join();
      ::_exit(0);
    } catch (const std::exception& e) {
      write_all_quiet(ready.write.get(), std::string("E") + e.what());
      ::_exit(1);
    }
  }
  Child victim(pid);
  ready.write.reset();
  go.read.reset();
  // The victim answers "R" once pinned and threaded, or "E<why>" and exits.
  auto read_some = [&](char* buf, size_t size) {
    for (;;) {
      ssize_t n = ::read(ready.read.get(), buf, size);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) throw os_error("read victim ready pipe");
    }
  };
  char first = 0;
  if (read_some(&first, 1) == 0) {
    return TrialResult::error("noop: victim exited before it was ready");
  }
  if (first != 'R') {
    std::string why;
    char buf[512];
    while (size_t n = read_some(buf, sizeof buf)) why.append(buf, n);
    return TrialResult::error("noop: victim: " + why);
  }
  ctx.record_binding(Role::kVictim, victim.pid());
  go.write.reset();
  int status = victim.wait();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return TrialResult::error(fmt::format("noop: victim ended with wait status {:#x}", status));
  }
  return TrialResult::pass();
}

class Noop final : public Scenario {
 public:
  std::string name() const override { return "selftest/noop"; }
  std::string description() const override {
    return "always passes; measures harness overhead, and its params exercise trial "
           "isolation, timeouts and CPU binding";
  }
  std::vector<ParamSpec> params() const override {
    return {
        ParamSpec::integer("sleep_ms", 0, 0, 3'600'000, "sleep this many milliseconds before passing"),
        ParamSpec::choice("leak_child", "off", {"off", "on"},
                          "fork a child named flk-noop-leak that sleeps 60 s and is left behind"),
        ParamSpec::integer("busy_us", 0, 0, 3'600'000'000, "burn this many microseconds of CPU (a CPU-bound trial)"),
        ParamSpec::choice("litter", "off", {"off", "on"},
                          "bind the abstract unix name @flakelab-noop-litter (fd left open) and leave a file in "
                          "the trial's temp dir"),
        ParamSpec::choice("spawn_victim", "off", {"off", "on"},
                          "fork a victim that pins itself with bind_self(victim), starts a 2nd thread, and "
                          "records its binding"),
    };
  }
  std::vector<std::string> jitter_points() const override { return {"before_pass"}; }

  TrialResult run(TrialContext& ctx) override {
    const std::string& busy_text = ctx.param("busy_us");
    long busy_us = -1;
    auto [busy_end, busy_ec] = std::from_chars(busy_text.data(), busy_text.data() + busy_text.size(), busy_us);
    if (busy_ec != std::errc() || busy_end != busy_text.data() + busy_text.size() || busy_us < 0) {
      return TrialResult::error(fmt::format("noop: busy_us={} is not a count of microseconds", busy_text));
    }
    const std::string& text = ctx.param("sleep_ms");
    long ms = -1;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (ec != std::errc() || end != text.data() + text.size() || ms < 0) {
      return TrialResult::error(fmt::format("noop: sleep_ms={} is not a count of ms", text));
    }
    if (ctx.param_is("leak_child", "on")) leak_child();
    if (ctx.param_is("litter", "on")) litter(ctx);
    if (busy_us > 0) busy(busy_us);
    if (ctx.param_is("spawn_victim", "on")) {
      TrialResult result = spawn_victim(ctx);
      if (result.verdict != Verdict::kPass) return result;
    }
    if (ms > 0) sleep_ms(ms);
    ctx.jitter_point("before_pass");
    return TrialResult::pass();
  }
};

}  // namespace

std::unique_ptr<Scenario> make_selftest_noop() { return std::make_unique<Noop>(); }

}  // namespace flakelab::scenarios
