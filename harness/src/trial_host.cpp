#include "flakelab/harness/trial_host.h"

#include <errno.h>
#include <fmt/core.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <optional>

#include "flakelab/harness/error.h"
#include "flakelab/harness/trial_runner.h"
#include "host_protocol.h"
#include "trial_host_init.h"

namespace flakelab::harness {
namespace {

struct ForkedHost {
  base::ChildProcess process;
  base::UniqueFd control;
};

ForkedHost fork_host(const Topology& topology, const TrialRequest& prototype) {
  int sockets[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0) {
    throw os_error("socketpair for a trial host");
  }
  base::UniqueFd ours(sockets[0]), theirs(sockets[1]);
  // Buffered output would otherwise be written twice if a child ever flushed it.
  std::fflush(stdout);
  std::fflush(stderr);
  // fork()-like clone: no new stack, the child continues here. CLONE_PIDFD puts a
  // pidfd for the child in `pidfd` (the parent_tid argument).
  int pidfd = -1;
  const long pid = ::syscall(SYS_clone, kTrialNamespaces | CLONE_PIDFD | SIGCHLD, nullptr, &pidfd, nullptr, nullptr);
  if (pid < 0) {
    const int err = errno;
    HarnessError error = os_error("clone(CLONE_NEWPID|CLONE_NEWNS|CLONE_NEWNET|CLONE_PIDFD) for a trial host");
    // The usual cause: not root. Say so instead of leaving the user with a bare EPERM.
    if (err == EPERM) {
      throw HarnessError(std::string(error.what()) +
                         " (trials run in their own pid, mount and network namespaces, which needs root: "
                         "CAP_SYS_ADMIN; run flakelab as root)");
    }
    throw error;
  }
  if (pid == 0) host_main(theirs.get(), topology, prototype);
  return ForkedHost{base::ChildProcess(static_cast<pid_t>(pid), base::UniqueFd(pidfd)), std::move(ours)};
}

}  // namespace

TrialHost::TrialHost(const Topology& topology, const TrialRequest& prototype)
    : scenario_(prototype.scenario),
      params_(prototype.params),
      jitter_(prototype.jitter),
      process_([&] {
        ForkedHost host = fork_host(topology, prototype);
        control_ = std::move(host.control);
        return std::move(host.process);
      }()) {}

TrialHost::~TrialHost() = default;  // the ChildProcess kills and reaps

bool TrialHost::serves(const TrialRequest& request) const {
  return alive_ && request.scenario == scenario_ && request.params == params_ && request.jitter == jitter_;
}

void TrialHost::start(const TrialRequest& request, base::UniqueFd result_write) {
  if (!serves(request)) throw HarnessError(fmt::format("trial host {} cannot run this trial", pid()));
  std::string message(sizeof(RequestMessage), '\0');
  RequestMessage launch{};
  launch.kind = RequestKind::kLaunch;
  launch.index = request.index;
  launch.seed = request.seed;
  for (size_t role = 0; role < Placement::kRoles; ++role) {
    launch.cpus[role] = request.placement.cpu_of(static_cast<scenarios::Role>(role)).value_or(-1);
  }
  ::memcpy(message.data(), &launch, sizeof launch);
  message += request.temp_dir;
  if (message.size() > kMaxRequestBytes) {
    throw HarnessError(fmt::format("trial temp dir path too long ({} bytes)", request.temp_dir.size()));
  }
  if (!send_message(control_.get(), message.data(), message.size(), result_write.get())) {
    alive_ = false;
    throw os_error(fmt::format("send a trial to trial host {}", pid()));
  }
}

base::UniqueFd TrialHost::trial_pidfd() {
  RequestMessage ask{};
  ask.kind = RequestKind::kPidfd;
  if (!send_message(control_.get(), &ask, sizeof ask, -1)) return base::UniqueFd();  // dead: read_end() says so
  for (;;) {
    ReportMessage report{};
    base::UniqueFd pidfd;
    const ssize_t n = receive_message(control_.get(), &report, sizeof report, pidfd);
    if (n == static_cast<ssize_t>(sizeof report) && report.kind == ReportKind::kPidfd) return pidfd;
    // The trial's end (or the host's) crossed the question: keep it for read_end().
    pending_ = decode_report(n, report);
    if (!pending_->has_value()) return base::UniqueFd();
  }
}

std::optional<TrialEnd> TrialHost::decode_report(ssize_t n, ReportMessage& report) {
  if (n == static_cast<ssize_t>(sizeof report) && report.kind == ReportKind::kEnded) {
    return TrialEnd{report.status, report.netns_renewed != 0};
  }
  alive_ = false;
  if (n == static_cast<ssize_t>(sizeof report) && report.kind == ReportKind::kFailed) {
    report.failure[sizeof report.failure - 1] = '\0';
    failure_ = report.failure;
  } else if (n < 0) {
    failure_ = fmt::format("receive from the host: {}", ::strerror(errno));
  } else if (n > 0) {
    failure_ = fmt::format("unexpected report ({} bytes)", n);
  }
  return std::nullopt;
}

std::optional<TrialEnd> TrialHost::read_end() {
  if (pending_) {
    std::optional<TrialEnd> end = *pending_;
    pending_.reset();
    return end;
  }
  ReportMessage report{};
  base::UniqueFd unexpected;
  const ssize_t n = receive_message(control_.get(), &report, sizeof report, unexpected);
  return decode_report(n, report);
}

pid_t pid_of_pidfd(int pidfd) {
  std::ifstream info(fmt::format("/proc/self/fdinfo/{}", pidfd));
  std::string line;
  while (std::getline(info, line)) {
    if (line.rfind("Pid:", 0) == 0) return static_cast<pid_t>(std::stol(line.substr(4)));
  }
  throw HarnessError(fmt::format("no Pid: line in /proc/self/fdinfo/{} (not a pidfd?)", pidfd));
}

}  // namespace flakelab::harness
