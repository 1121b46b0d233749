#include "flakelab/base/child_process.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "flakelab/base/os_error.h"

namespace flakelab::base {
namespace {

UniqueFd open_pidfd(pid_t pid) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!fd) throw_os_error("pidfd_open pid " + std::to_string(pid), errno);
  return fd;
}

}  // namespace

ChildProcess::ChildProcess(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}

ChildProcess::ChildProcess(pid_t pid) : pid_(pid) {
  try {
    pidfd_ = open_pidfd(pid);
  } catch (...) {
    ::kill(pid, SIGKILL);  // still ours to reap: not left behind
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    throw;
  }
}

ChildProcess ChildProcess::fork(const std::function<void()>& body) {
  pid_t pid = ::fork();
  if (pid < 0) throw_os_error("fork", errno);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    try {
      body();
    } catch (...) {
      ::_exit(120);
    }
    ::_exit(0);
  }
  return ChildProcess(pid);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::move(other.pidfd_)),
      reaped_(std::exchange(other.reaped_, false)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    kill_and_reap();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
    reaped_ = std::exchange(other.reaped_, false);
  }
  return *this;
}

// glibc 2.36 declares pidfd_send_signal in <sys/pidfd.h> without C linkage, so the
// raw system call is used.
void ChildProcess::kill() {
  if (!owns()) return;
  if (::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0) != 0 && errno != ESRCH)
    throw_os_error("pidfd_send_signal(SIGKILL) to pid " + std::to_string(pid_) + " (pidfd " +
                       std::to_string(pidfd_.get()) + ")",
                   errno);
}

int ChildProcess::wait() {
  if (reaped_) throw OsError("waitpid " + std::to_string(pid_) + ": it was already reaped", EINVAL);
  if (pid_ <= 0) throw OsError("waitpid: no child", EINVAL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) throw_os_error("waitpid " + std::to_string(pid_), errno);
  }
  reaped_ = true;
  return status;
}

bool ChildProcess::alive() {
  if (!owns()) return false;
  int status = 0;
  pid_t got = ::waitpid(pid_, &status, WNOHANG);
  if (got < 0) throw_os_error("waitpid " + std::to_string(pid_), errno);
  if (got == 0) return true;
  reaped_ = true;
  return false;
}

void ChildProcess::kill_and_reap() noexcept {
  if (owns()) {
    try {
      kill();
      wait();
    } catch (const std::exception&) {
      // The kernel reaps it when we exit.
    }
  }
  pid_ = -1;
  pidfd_.reset();
  reaped_ = false;
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return "killed by signal " + std::to_string(sig) + " (" + (name != nullptr ? name : "unknown") + ")" +
           (WCOREDUMP(status) ? ", core dumped" : "");
  }
  char hex[32];
  std::snprintf(hex, sizeof hex, "%#x", static_cast<unsigned>(status));
  return std::string("ended with wait status ") + hex;
}

}  // namespace flakelab::base
