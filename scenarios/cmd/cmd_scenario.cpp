// cmd: any command as a scenario. Each trial runs the command (shell syntax, through
// `sh -c 'exec COMMAND'`) inside the trial's isolation, with its threads placed on the
// placement's PUs, its stdout/stderr captured (the last 1 MiB, into output.log), and the
// trial's identity in its environment. Pass = exit status 0; a failure's message is
// the output's last line matching --failure (else its last non-empty line) and the
// exit status or signal, so that failures of one cause share a signature.
#include <errno.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>

#include "flakelab/base/child_process.h"
#include "flakelab/base/os_error.h"
#include "flakelab/base/unique_fd.h"
#include "flakelab/scenarios/scenario.h"
#include "output_tail.h"
#include "thread_placer.h"

namespace flakelab::scenarios {
namespace {

// How often /proc is scanned for new threads to pin: every 1 ms after a scan found one,
// backing off to every 16 ms while none appear (a long test is not taxed by its
// supervisor). A thread started and ended within one period is never pinned; threads
// inherit their creator's PU meanwhile.
constexpr int kFastScanMs = 1;
constexpr int kSlowScanMs = 16;

struct Pipe {
  base::UniqueFd read;
  base::UniqueFd write;
};

Pipe make_output_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) base::throw_os_error("pipe2 for the command's output", errno);
  Pipe pipe{base::UniqueFd(fds[0]), base::UniqueFd(fds[1])};
  if (::fcntl(pipe.read.get(), F_SETFL, O_NONBLOCK) != 0) {
    base::throw_os_error(fmt::format("fcntl(O_NONBLOCK) command output pipe (fd {})", pipe.read.get()), errno);
  }
  return pipe;
}

// Reads what is there; false at end of file.
bool drain(int fd, OutputTail& tail) {
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      tail.append(std::string_view(buf, static_cast<size_t>(n)));
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return true;
    base::throw_os_error(fmt::format("read command output pipe (fd {})", fd), errno);
  }
}

// "exited with status 3", "killed by SIGSEGV".
std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* abbrev = ::sigabbrev_np(WTERMSIG(status));
    return abbrev != nullptr ? fmt::format("killed by SIG{}", abbrev)
                             : fmt::format("killed by signal {}", WTERMSIG(status));
  }
  return fmt::format("wait status {:#x}", status);
}

void set_env(const char* name, const std::string& value) {
  if (::setenv(name, value.c_str(), 1) != 0) base::throw_os_error(fmt::format("setenv {}", name), errno);
}

// The PUs the command's threads go to: the victim's; with spread, then the
// injector's and the writer's, without repeats. Empty when the victim is unpinned.
std::vector<int> command_pus(const TrialContext& ctx, bool spread) {
  std::vector<int> pus;
  const std::optional<int> victim = ctx.cpu_of(Role::kVictim);
  if (!victim) return pus;
  pus.push_back(*victim);
  if (!spread) return pus;
  for (Role role : {Role::kInjector, Role::kWriter}) {
    const std::optional<int> cpu = ctx.cpu_of(role);
    if (cpu && std::find(pus.begin(), pus.end(), *cpu) == pus.end()) pus.push_back(*cpu);
  }
  return pus;
}

class Cmd final : public Scenario {
 public:
  std::string name() const override { return "cmd"; }
  std::string description() const override {
    return "any command (flakelab run cmd -- PROGRAM ARGS...): passes when it exits 0; output captured, threads "
           "placed, FLAKELAB_SEED/TRIAL/TMPDIR/CPUS in its environment";
  }
  std::vector<ParamSpec> params() const override {
    return {
        ParamSpec::string("command", "",
                          "the command, shell syntax (run as sh -c 'exec COMMAND'); `run cmd -- PROGRAM ARGS...` "
                          "sets it"),
        ParamSpec::choice("spread", "off", {"off", "on"},
                          "on: the command's threads go round-robin over the placement's PUs (victim's, "
                          "injector's, writer's) as they appear; off: all on the victim's PU"),
        ParamSpec::string("wrap", "",
                          "a wrapper prefixed to the command, shell syntax (e.g. strace -f -o trace.txt); "
                          "`flakelab rerun --wrap` sets it"),
    };
  }
  std::vector<std::string> jitter_points() const override { return {"before_start"}; }

  TrialResult run(TrialContext& ctx) override {
    const std::string& command = ctx.param("command");
    if (command.empty()) {
      return TrialResult::error("cmd: no command: give it as `flakelab run cmd -- PROGRAM ARGS...`");
    }
    const bool spread = ctx.param_is("spread", "on");
    const std::vector<int> pus = command_pus(ctx, spread);
    ThreadPlacer placer(pus, spread);
    const std::string wrap = ctx.param("wrap");
    const std::string script = "exec " + (wrap.empty() ? "" : wrap + " ") + command;
    OutputTail output(ctx.temp_dir.empty() ? "" : ctx.temp_dir + "/output.log");

    Pipe pipe = make_output_pipe();
    const std::string tmpdir = ctx.temp_dir.empty() ? std::string(::getenv("TMPDIR") ? ::getenv("TMPDIR") : "/tmp")
                                                    : ctx.temp_dir;
    ctx.jitter_point("before_start");
    base::ChildProcess child = base::ChildProcess::fork([&] {
      const int null = ::open("/dev/null", O_RDONLY);
      if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(pipe.write.get(), 1) < 0 || ::dup2(pipe.write.get(), 2) < 0) {
        ::_exit(126);
      }
      try {
        set_env("FLAKELAB_SEED", std::to_string(ctx.seed));
        set_env("FLAKELAB_TRIAL", std::to_string(ctx.index));
        set_env("FLAKELAB_TMPDIR", tmpdir);
        set_env("FLAKELAB_CPUS", join_pus(pus, ","));
        set_env("FLAKELAB_SPREAD", spread ? "1" : "0");
        placer.pin_self_as_first();
      } catch (const std::exception& e) {
        // Into the output, so that it becomes the trial's message.
        ::dprintf(2, "flakelab cmd: starting the command: %s\n", e.what());
        ::_exit(126);
      }
      ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
      ::dprintf(2, "flakelab cmd: exec /bin/sh: %s\n", ::strerror(errno));
      ::_exit(127);
    });
    pipe.write.reset();

    // Until the command exits: its output, and its new threads pinned as they appear.
    bool output_open = true;
    int period_ms = kFastScanMs;
    for (;;) {
      const size_t seen = placer.threads_seen();
      placer.scan(::getpid());
      period_ms = placer.threads_seen() != seen ? kFastScanMs : std::min(2 * period_ms, kSlowScanMs);
      pollfd fds[2] = {{child.pidfd(), POLLIN, 0}, {output_open ? pipe.read.get() : -1, POLLIN, 0}};
      const int ready = ::poll(fds, 2, period_ms);
      if (ready < 0 && errno != EINTR) base::throw_os_error("poll the command (pidfd and output pipe)", errno);
      if (fds[1].revents != 0) output_open = drain(pipe.read.get(), output);
      if (fds[0].revents != 0) break;
    }
    const int status = child.wait();
    // What is in the pipe now; a background process still holding it open is not waited for.
    if (output_open) drain(pipe.read.get(), output);
    output.close();
    ctx.record_cpus("command", placer.cpus_used());
    if (!ctx.temp_dir.empty()) write_placement(ctx.temp_dir + "/placement.txt", pus, spread, placer);

    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return TrialResult::pass();
    return TrialResult::fail(failure_message(output.tail(), ctx.failure_patterns, describe_status(status)));
  }

 private:
  static void write_placement(const std::string& path, const std::vector<int>& pus, bool spread,
                              const ThreadPlacer& placer) {
    std::ofstream out(path);
    out << "pus: " << (pus.empty() ? "unpinned" : join_pus(pus, ",")) << "\nspread: " << (spread ? "on" : "off")
        << "\nthreads (tid@cpus, in the order found):";
    for (const std::string& thread : placer.log()) out << ' ' << thread;
    out << '\n';
    if (!out) base::throw_os_error("write " + path, EIO);
  }
};

}  // namespace

std::unique_ptr<Scenario> make_cmd() { return std::make_unique<Cmd>(); }

}  // namespace flakelab::scenarios
