#include "flakelab/harness/trial_host.h"

#include <errno.h>
#include <fmt/core.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>

#include "flakelab/harness/error.h"
#include "flakelab/harness/interrupt.h"
#include "flakelab/harness/trial_runner.h"
#include "trial_process.h"

namespace flakelab::harness {
namespace {

enum class RequestKind : uint32_t { kLaunch = 1, kPidfd = 2 };

// Harness -> host: kLaunch starts a trial (the result pipe's write end rides along);
// kPidfd asks for the running trial's pidfd (only needed to signal it at a timeout).
struct RequestMessage {
  RequestKind kind;
  int64_t index;
  uint64_t seed;
  std::array<int32_t, Placement::kRoles> cpus;  // -1: role not pinned
  // followed by the temp dir path, unterminated
};

enum class ReportKind : uint32_t { kPidfd = 1, kEnded = 2, kFailed = 3 };

}  // namespace

// Host -> harness: kPidfd (with the trial's pidfd, or none if no trial runs), kEnded,
// or kFailed just before the host exits.
struct TrialHost::ReportMessage {
  ReportKind kind;
  int32_t status;
  uint32_t netns_renewed;
  char failure[244];
};

namespace {

using ReportMessage = TrialHost::ReportMessage;

constexpr size_t kMaxRequestBytes = sizeof(RequestMessage) + 4096;

// Sends `bytes` with `fd` (unless -1) as SCM_RIGHTS. Returns false if the peer is gone.
bool send_message(int socket, const void* bytes, size_t size, int fd) {
  iovec iov{const_cast<void*>(bytes), size};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    ::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  }
  for (;;) {
    const ssize_t n = ::sendmsg(socket, &msg, MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(size)) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

// Receives one message into `buffer`; `fd` gets a passed descriptor (or stays empty).
// Returns its size, 0 if the peer is gone, -1 with errno on error.
ssize_t receive_message(int socket, void* buffer, size_t size, UniqueFd& fd) {
  iovec iov{buffer, size};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return n;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
      int passed;
      ::memcpy(&passed, CMSG_DATA(cmsg), sizeof(int));
      fd.reset(passed);
    }
  }
  if ((msg.msg_flags & MSG_TRUNC) != 0) {
    errno = EMSGSIZE;
    return -1;
  }
  return n;
}

// ---- inside the host process ----

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

// Tells whether the host's network namespace is still as a new one: no socket in it
// (unix; IP sockets in use or in TIME_WAIT) and the loopback device down. Its descriptors
// stay open across trials (they belong to the namespace they were opened in: reopen()
// after moving to a new one); it costs ~20 us a trial.
class NetnsProbe {
 public:
  NetnsProbe() { reopen(); }

  void reopen() {
    ioctl_socket_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!ioctl_socket_) throw os_error("socket(AF_UNIX) to read the loopback flags");
    struct stat st {};
    if (::fstat(ioctl_socket_.get(), &st) != 0) throw os_error("fstat of the host's probe socket");
    ioctl_socket_ino_ = st.st_ino;
    netlink_.reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (!netlink_) throw os_error("socket(NETLINK_SOCK_DIAG)");
    // IP sockets are counted from these per-namespace counters: a sock_diag dump of TCP
    // walks the kernel's global hash table (~0.5 ms a trial here).
    for (size_t i = 0; i < sockstat_.size(); ++i) {
      const char* path = i == 0 ? "/proc/net/sockstat" : "/proc/net/sockstat6";
      sockstat_[i].reset(::open(path, O_RDONLY | O_CLOEXEC));
      if (!sockstat_[i]) throw os_error(fmt::format("open {} in the trial host", path));
    }
  }

  bool pristine() const { return !loopback_up() && unix_sockets() == 0 && !ip_sockets_in_use(); }

 private:
  bool loopback_up() const {
    ifreq lo{};
    ::strncpy(lo.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(ioctl_socket_.get(), SIOCGIFFLAGS, &lo) != 0) throw os_error("ioctl(SIOCGIFFLAGS) lo");
    return (lo.ifr_flags & IFF_UP) != 0;
  }

  // Unix sockets a sock_diag dump lists, but for the probe's own.
  size_t unix_sockets() const {
    struct {
      nlmsghdr header;
      unix_diag_req body;
    } request{};
    request.header.nlmsg_len = sizeof request;
    request.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.body.sdiag_family = AF_UNIX;
    request.body.udiag_states = ~0U;
    if (::send(netlink_.get(), &request, sizeof request, 0) < 0) throw os_error("send unix sock_diag request");
    size_t sockets = 0;
    alignas(nlmsghdr) char buffer[16384];
    for (;;) {
      const ssize_t n = ::recv(netlink_.get(), buffer, sizeof buffer, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw os_error("recv unix sock_diag reply");
      }
      int left = static_cast<int>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
        if (h->nlmsg_type == NLMSG_DONE) return sockets;
        if (h->nlmsg_type == NLMSG_ERROR) {
          errno = -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
          throw os_error("unix sock_diag dump");
        }
        const auto* socket = static_cast<const unix_diag_msg*>(NLMSG_DATA(h));
        if (socket->udiag_ino != ioctl_socket_ino_) ++sockets;
      }
    }
  }

  // Lines like "TCP: inuse 0 orphan 0 tw 0 alloc 1 mem 0": inuse and tw count this
  // namespace's sockets (orphan, alloc and mem are machine-wide).
  bool ip_sockets_in_use() const {
    for (const UniqueFd& file : sockstat_) {
      char text[2048];
      const ssize_t n = ::pread(file.get(), text, sizeof text - 1, 0);
      if (n < 0) throw os_error("read /proc/net/sockstat in the trial host");
      text[n] = '\0';
      for (char* line = text; *line != '\0';) {
        char* end = ::strchr(line, '\n');
        if (end != nullptr) *end = '\0';
        if (::strncmp(line, "FRAG", 4) != 0 && ::strncmp(line, "sockets:", 8) != 0) {
          for (const char* key : {" inuse ", " tw "}) {
            const char* at = ::strstr(line, key);
            if (at != nullptr && std::strtol(at + ::strlen(key), nullptr, 10) != 0) return true;
          }
        }
        if (end == nullptr) break;
        line = end + 1;
      }
    }
    return false;
  }

  UniqueFd ioctl_socket_;
  ino_t ioctl_socket_ino_ = 0;
  UniqueFd netlink_;
  std::array<UniqueFd, 2> sockstat_;
};

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

// Body of the host process (pid 1 of its namespaces). Never returns.
[[noreturn]] void host_main(int control, const Topology& topology, const TrialRequest& prototype) {
  if (control > 3) ::close_range(3, static_cast<unsigned>(control) - 1, 0);
  ::close_range(static_cast<unsigned>(std::max(control + 1, 3)), ~0U, 0);
  try {
    reset_signal_dispositions();
    ::prctl(PR_SET_NAME, "flakelab-host", 0, 0, 0);  // for ps and perf; the trial renames itself
    // If the harness dies, so does the host, and with it everything in its namespace.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) throw os_error("prctl(PR_SET_PDEATHSIG)");
    mount_private_proc();
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
    UniqueFd result_write;
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
      UniqueFd passed;
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
    const UniqueFd trial_pidfd(pidfd);
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

struct ForkedHost {
  ChildProcess process;
  UniqueFd control;
};

ForkedHost fork_host(const Topology& topology, const TrialRequest& prototype) {
  int sockets[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0) {
    throw os_error("socketpair for a trial host");
  }
  UniqueFd ours(sockets[0]), theirs(sockets[1]);
  // Buffered output would otherwise be written twice if a child ever flushed it.
  std::fflush(stdout);
  std::fflush(stderr);
  // fork()-like clone: no new stack, the child continues here. CLONE_PIDFD puts a
  // pidfd for the child in `pidfd` (the parent_tid argument).
  int pidfd = -1;
  const long pid = ::syscall(SYS_clone, kTrialNamespaces | CLONE_PIDFD | SIGCHLD, nullptr, &pidfd, nullptr, nullptr);
  if (pid < 0) throw os_error("clone(CLONE_NEWPID|CLONE_NEWNS|CLONE_NEWNET|CLONE_PIDFD) for a trial host");
  if (pid == 0) host_main(theirs.get(), topology, prototype);
  return ForkedHost{ChildProcess(static_cast<pid_t>(pid), UniqueFd(pidfd)), std::move(ours)};
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

TrialHost::~TrialHost() = default;  // ChildProcess kills and reaps

bool TrialHost::serves(const TrialRequest& request) const {
  return alive_ && request.scenario == scenario_ && request.params == params_ && request.jitter == jitter_;
}

void TrialHost::start(const TrialRequest& request, UniqueFd result_write) {
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

UniqueFd TrialHost::trial_pidfd() {
  RequestMessage ask{};
  ask.kind = RequestKind::kPidfd;
  if (!send_message(control_.get(), &ask, sizeof ask, -1)) return UniqueFd();  // dead: read_end() says so
  for (;;) {
    ReportMessage report{};
    UniqueFd pidfd;
    const ssize_t n = receive_message(control_.get(), &report, sizeof report, pidfd);
    if (n == static_cast<ssize_t>(sizeof report) && report.kind == ReportKind::kPidfd) return pidfd;
    // The trial's end (or the host's) crossed the question: keep it for read_end().
    pending_ = decode_report(n, report);
    if (!pending_->has_value()) return UniqueFd();
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
  UniqueFd unexpected;
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
