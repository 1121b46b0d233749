#include "flakelab/harness/trial_runner.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <poll.h>
#include <time.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "flakelab/harness/binding.h"
#include "flakelab/harness/child_process.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/interrupt.h"
#include "flakelab/harness/topology.h"
#include "flakelab/harness/trial_wire.h"
#include "flakelab/harness/unique_fd.h"

namespace flakelab::harness {
namespace {

using Clock = std::chrono::steady_clock;
using scenarios::Role;
using scenarios::Verdict;

constexpr size_t kMaxMessageBytes = 64 * 1024;   // longer messages are cut
constexpr size_t kMaxFrameBytes = 1024 * 1024;   // a trial sending more is broken
constexpr int kExitResultWriteFailed = 125;

// Gives the trial its own /proc, so that /proc/PID names pids of its pid namespace
// (scenarios and hwloc read /proc/PID/task, /proc/self/...). /proc is made private
// first so that the new mount cannot propagate back to the host's mount namespace.
void mount_trial_proc() {
  if (::mount(nullptr, "/proc", nullptr, MS_PRIVATE, nullptr) != 0) {
    throw os_error("mount(MS_PRIVATE) /proc in the trial's mount namespace");
  }
  if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    throw os_error("mount proc on /proc in the trial's mount namespace");
  }
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Body of the trial process (pid 1 of its pid namespace). Never returns.
[[noreturn]] void trial_main(int result_fd, const Topology& topology, const Placement& placement,
                             scenarios::Scenario& scenario,
                             const std::map<std::string, std::string>& params, int64_t index,
                             uint64_t seed) {
  // The trial starts with stdin/stdout/stderr and its result pipe only: the harness's
  // other descriptors (the database among them) stay out of scenarios and victims.
  if (result_fd > 3) ::close_range(3, static_cast<unsigned>(result_fd) - 1, 0);
  ::close_range(static_cast<unsigned>(std::max(result_fd + 1, 3)), ~0U, 0);
  WireResult result;
  BindingRecorder binding(topology, placement);
  bool ready = false;
  try {
    reset_signal_dispositions();
    // If the harness dies, so does the trial (and with it its whole pid namespace).
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) throw os_error("prctl(PR_SET_PDEATHSIG)");
    mount_trial_proc();
    binding.bind_self(Role::kInjector);
    binding.record(Role::kInjector, ::getpid());
    ready = true;

    scenarios::TrialContext ctx;
    ctx.seed = seed;
    ctx.index = index;
    ctx.params = params;
    ctx.bind_self = [&binding](Role role) { binding.bind_self(role); };
    ctx.record_binding = [&binding](Role role, pid_t pid) { binding.record(role, pid); };
    ctx.cpu_of = [&binding](Role role) { return binding.cpu_of(role); };
    scenarios::TrialResult verdict = scenario.run(ctx);
    result.verdict = verdict.verdict;
    result.message = std::move(verdict.message);
  } catch (const std::exception& e) {
    result.verdict = Verdict::kError;
    result.message = ready ? e.what() : fmt::format("trial setup failed: {}", e.what());
  } catch (...) {
    result.verdict = Verdict::kError;
    result.message = "scenario threw an exception that is not a std::exception";
  }
  if (result.message.size() > kMaxMessageBytes) {
    result.message.resize(kMaxMessageBytes);
    result.message += " [cut]";
  }
  result.cpus_used = binding.cpus_used();
  ::_exit(write_all(result_fd, encode_result(result)) ? 0 : kExitResultWriteFailed);
}

// Reads what is available; returns false at end of file.
bool drain(int fd, std::string& bytes) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      bytes.append(buf, static_cast<size_t>(n));
      if (bytes.size() > kMaxFrameBytes) return false;
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return true;
    throw os_error(fmt::format("read trial result pipe (fd {})", fd));
  }
}

results::Outcome outcome_of(Verdict verdict) {
  switch (verdict) {
    case Verdict::kPass: return results::Outcome::kPass;
    case Verdict::kFail: return results::Outcome::kFail;
    case Verdict::kError: return results::Outcome::kError;
  }
  return results::Outcome::kError;
}

}  // namespace

TrialRunner::TrialRunner(const Topology& topology, Placement placement, TrialOptions options)
    : topology_(topology), placement_(placement), options_(options) {}

TrialOutcome TrialRunner::run(scenarios::Scenario& scenario,
                              const std::map<std::string, std::string>& params, int64_t index,
                              uint64_t seed) {
  // Buffered output would otherwise be written twice if a child ever flushed it.
  std::fflush(stdout);
  std::fflush(stderr);
  PipeFds pipe = make_pipe();
  if (::fcntl(pipe.read.get(), F_SETFL, O_NONBLOCK) != 0) {
    throw os_error(fmt::format("fcntl(O_NONBLOCK) trial result pipe (fd {})", pipe.read.get()));
  }

  const Clock::time_point start = Clock::now();
  // fork()-like clone: no new stack, the child continues here. CLONE_PIDFD puts a
  // pidfd for the child in `pidfd` (the parent_tid argument).
  int pidfd = -1;
  const long pid = ::syscall(SYS_clone, kTrialNamespaces | CLONE_PIDFD | SIGCHLD, nullptr,
                             &pidfd, nullptr, nullptr);
  if (pid < 0) {
    throw os_error("clone(CLONE_NEWPID|CLONE_NEWNS|CLONE_NEWNET|CLONE_PIDFD) for a trial");
  }
  if (pid == 0) {
    trial_main(pipe.write.get(), topology_, placement_, scenario, params, index, seed);
  }
  ChildProcess child(static_cast<pid_t>(pid), UniqueFd(pidfd));
  pipe.write.reset();

  const Clock::time_point deadline =
      start + std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double>(options_.timeout_s));
  std::string bytes;
  bool pipe_open = true;
  bool exited = false;
  bool timed_out = false;
  bool interrupted = false;
  while (!exited) {
    if (interrupt_signal() != 0) {
      interrupted = true;
      break;
    }
    const Clock::time_point now = Clock::now();
    if (now >= deadline) {
      timed_out = true;
      break;
    }
    const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now);
    const timespec wait{static_cast<time_t>(left.count() / 1000000000),
                        static_cast<long>(left.count() % 1000000000)};
    pollfd fds[2] = {{child.pidfd(), POLLIN, 0}, {pipe_open ? pipe.read.get() : -1, POLLIN, 0}};
    // ppoll unblocks SIGINT/SIGTERM only while waiting: no lost wake-up.
    if (::ppoll(fds, 2, &wait, interrupt_wait_mask()) < 0) {
      if (errno == EINTR) continue;
      throw os_error(fmt::format("poll trial pid {} (pidfd {}, result fd {})", pid, child.pidfd(),
                                 pipe.read.get()));
    }
    if (fds[1].revents != 0) {
      pipe_open = drain(pipe.read.get(), bytes);
      if (bytes.size() > kMaxFrameBytes) break;  // judged below as malformed
    }
    if (fds[0].revents != 0) exited = true;
  }
  if (!exited) child.kill();
  const int status = child.wait();
  if (bytes.size() <= kMaxFrameBytes) drain(pipe.read.get(), bytes);

  TrialOutcome outcome;
  outcome.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  if (interrupted) {
    outcome.interrupted = true;
    outcome.outcome = results::Outcome::kError;
    outcome.message = fmt::format("interrupted by signal {}", interrupt_signal());
    return outcome;
  }
  if (timed_out) {
    outcome.outcome = results::Outcome::kTimeout;
    outcome.message = fmt::format("timeout after {:g}s", options_.timeout_s);
    return outcome;
  }
  if (std::optional<WireResult> result = decode_result(bytes)) {
    outcome.outcome = outcome_of(result->verdict);
    outcome.message = std::move(result->message);
    outcome.cpus_used = std::move(result->cpus_used);
    return outcome;
  }
  outcome.outcome = results::Outcome::kError;
  if (bytes.empty()) {
    outcome.message = WIFSIGNALED(status)
                          ? fmt::format("trial process {}", describe_wait_status(status))
                          : fmt::format("trial process {} without writing a result",
                                        describe_wait_status(status));
  } else {
    outcome.message = fmt::format("trial process {} after writing a malformed result ({} bytes)",
                                  describe_wait_status(status), bytes.size());
  }
  return outcome;
}

}  // namespace flakelab::harness
