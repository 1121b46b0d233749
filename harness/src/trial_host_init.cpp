#include "trial_host_init.h"

#include <errno.h>
#include <fmt/core.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>

#include "flakelab/base/unique_fd.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/interrupt.h"
#include "flakelab/harness/trial_runner.h"
#include "flakelab/scenarios/checkpoint_engine.h"
#include "host_protocol.h"
#include "netns_probe.h"
#include "trial_process.h"

namespace flakelab::harness {
namespace {

using ReportMessage = TrialHost::ReportMessage;

// Tells the harness why the host gives up, and ends the host (and its namespaces).
[[noreturn]] void host_fail(int control, const std::string& why) {
  ReportMessage report{};
  report.kind = ReportKind::kFailed;
  ::snprintf(report.failure, sizeof report.failure, "%s", why.c_str());
  send_message(control, &report, sizeof report, -1);
  ::_exit(1);
}

// Gives the host's trials their own /proc, so that /proc/PID names pids of their pid
// namespace (scenarios and hwloc read /proc/PID/task, /proc/self/...). /proc is made
// private first so that the new mount cannot propagate back to the harness's namespace.
void mount_private_proc() {
  if (::mount(nullptr, "/proc", nullptr, MS_PRIVATE, nullptr) != 0) {
    throw os_error("mount(MS_PRIVATE) /proc in the trial host's mount namespace");
  }
  if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    throw os_error("mount proc on /proc in the trial host's mount namespace");
  }
}

// Waits for the trial process `trial`, reaping any other process that ends meanwhile
// (the host is init: orphans come to it). Returns the trial's status.
int wait_for_trial(pid_t trial) {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, __WALL);
    if (pid == trial) return status;
    if (pid < 0 && errno != EINTR) throw os_error(fmt::format("waitpid for trial process {}", trial));
  }
}

// Kills every other process of the host's pid namespace and reaps them all.
void kill_everything_else() {
  if (::kill(-1, SIGKILL) != 0 && errno != ESRCH) throw os_error("kill(-1, SIGKILL) in the trial host");
  for (;;) {
    if (::waitpid(-1, nullptr, __WALL) >= 0) continue;
    if (errno == EINTR) continue;
    if (errno == ECHILD) return;
    throw os_error("waitpid in the trial host");
  }
}

// CRIU probes the kernel on every call (~40 ms) unless it finds its cache /run/criu.kdat,
// which it keeps only on a tmpfs /run. A tmpfs of the host's own keeps the cache across
// the host's trials without touching the machine's /run; the whole tree is made private
// first so that the mount cannot propagate back. Only for an external engine other than
// flakelab's: other scenarios (cmd) keep seeing the machine's /run.
void mount_private_run_for_external_engine(const TrialRequest& prototype) {
  if (prototype.params == nullptr) return;
  const auto engine = prototype.params->find("engine");
  const auto cli = prototype.params->find("engine_cli");
  if (engine == prototype.params->end() || engine->second != "cli" || cli == prototype.params->end() ||
      scenarios::is_flakelab_cli(cli->second))
    return;
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    throw os_error("mount(MS_REC|MS_PRIVATE) / in the trial host's mount namespace");
  }
  if (::mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) {
    throw os_error("mount tmpfs on /run in the trial host's mount namespace");
  }
}

TrialRequest request_from(const RequestMessage& launch, std::string temp_dir, const TrialRequest& prototype) {
  TrialRequest request = prototype;
  request.index = launch.index;
  request.seed = launch.seed;
  request.placement = Placement();
  for (size_t role = 0; role < Placement::kRoles; ++role) {
    if (launch.cpus[role] >= 0) request.placement.set(static_cast<scenarios::Role>(role), launch.cpus[role]);
  }
  request.temp_dir = std::move(temp_dir);
  return request;
}

}  // namespace

[[noreturn]] void host_main(int control, const Topology& topology, const TrialRequest& prototype) {
  if (control > 3) ::close_range(3, static_cast<unsigned>(control) - 1, 0);
  ::close_range(static_cast<unsigned>(std::max(control + 1, 3)), ~0U, 0);
  try {
    reset_signal_dispositions();
    ::prctl(PR_SET_NAME, "flakelab-host", 0, 0, 0);  // for ps and perf; the trial renames itself
    // If the harness dies, so does the host, and with it everything in its namespace.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) throw os_error("prctl(PR_SET_PDEATHSIG)");
    mount_private_proc();
    mount_private_run_for_external_engine(prototype);
  } catch (const std::exception& e) {
    host_fail(control, e.what());
  }
  cpu_set_t own_cpus;
  if (::sched_getaffinity(0, sizeof own_cpus, &own_cpus) != 0) host_fail(control, "sched_getaffinity of the trial host");
  std::optional<NetnsProbe> netns;
  try {
    netns.emplace();
  } catch (const std::exception& e) {
    host_fail(control, e.what());
  }
  alignas(RequestMessage) char buffer[kMaxRequestBytes];
  // Receives the next request; answers kPidfd ones itself (with `trial_pidfd`, -1 for
  // none). Returns a launch, or nullopt when the trial ended first (`trial_pidfd` is
  // readable). Ends the host when the harness is gone.
  struct Launch {
    RequestMessage header;
    std::string temp_dir;
    base::UniqueFd result_write;
  };
  auto next_launch = [&](int trial_pidfd) -> std::optional<Launch> {
    for (;;) {
      if (trial_pidfd >= 0) {
        pollfd fds[2] = {{trial_pidfd, POLLIN, 0}, {control, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
          if (errno == EINTR) continue;
          host_fail(control, fmt::format("poll in the trial host: {}", ::strerror(errno)));
        }
        if (fds[0].revents != 0) return std::nullopt;
      }
      base::UniqueFd passed;
      const ssize_t n = receive_message(control, buffer, sizeof buffer, passed);
      if (n == 0) ::_exit(0);  // the harness is done with this host: its namespaces go with it
      RequestMessage message;
      if (n < static_cast<ssize_t>(sizeof message)) host_fail(control, fmt::format("malformed request ({} bytes)", n));
      ::memcpy(&message, buffer, sizeof message);
      if (message.kind == RequestKind::kPidfd) {
        ReportMessage report{};
        report.kind = ReportKind::kPidfd;
        if (!send_message(control, &report, sizeof report, trial_pidfd)) ::_exit(0);
        continue;
      }
      if (message.kind != RequestKind::kLaunch || !passed || trial_pidfd >= 0) {
        host_fail(control, fmt::format("unexpected request {} ({} bytes{})", static_cast<uint32_t>(message.kind), n,
                                       passed ? "" : ", no pipe"));
      }
      return Launch{message, std::string(buffer + sizeof message, static_cast<size_t>(n) - sizeof message),
                    std::move(passed)};
    }
  };
  for (;;) {
    Launch launch = *next_launch(-1);
    const TrialRequest request = request_from(launch.header, std::move(launch.temp_dir), prototype);
    // The trial starts where it will pin itself as the injector (no migration right after
    // the fork), and the host, woken by its end, runs there too.
    const std::optional<int> injector = request.placement.cpu_of(scenarios::Role::kInjector);
    cpu_set_t where = own_cpus;
    if (injector) {
      CPU_ZERO(&where);
      CPU_SET(*injector, &where);
    }
    ::sched_setaffinity(0, sizeof where, &where);  // a failure only costs a migration
    int pidfd = -1;
    const long trial = ::syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, nullptr, &pidfd, nullptr, nullptr);
    if (trial < 0) host_fail(control, fmt::format("clone a trial process: {}", ::strerror(errno)));
    if (trial == 0) run_trial_process(launch.result_write.get(), topology, request);
    launch.result_write.reset();
    const base::UniqueFd trial_pidfd(pidfd);
    if (next_launch(trial_pidfd.get())) host_fail(control, "a trial request while a trial runs");
    ReportMessage report{};
    try {
      report.kind = ReportKind::kEnded;
      report.status = wait_for_trial(static_cast<pid_t>(trial));
      kill_everything_else();
      if (!netns->pristine()) {
        if (::unshare(CLONE_NEWNET) != 0) throw os_error("unshare(CLONE_NEWNET) for the next trial");
        netns->reopen();
        report.netns_renewed = 1;
      }
    } catch (const std::exception& e) {
      host_fail(control, e.what());
    }
    if (!send_message(control, &report, sizeof report, -1)) ::_exit(0);
  }
}


}  // namespace flakelab::harness
