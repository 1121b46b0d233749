#include "flakelab/harness/child_process.h"

#include <errno.h>
#include <fmt/core.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/wait.h>

#include "flakelab/harness/error.h"

namespace flakelab::harness {

ChildProcess::ChildProcess(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::move(other.pidfd_)),
      reaped_(std::exchange(other.reaped_, true)) {}

ChildProcess::~ChildProcess() {
  if (pid_ <= 0 || reaped_) return;
  try {
    kill();
    wait();
  } catch (const std::exception&) {
    // Nothing better to do in a destructor; the kernel reaps it when we exit.
  }
}

// glibc 2.36 declares pidfd_send_signal in <sys/pidfd.h> without C linkage, so the
// raw system call is used.
void ChildProcess::kill() {
  if (reaped_) return;
  if (::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0) != 0 && errno != ESRCH) {
    throw os_error(fmt::format("pidfd_send_signal(SIGKILL) to pid {} (pidfd {})", pid_,
                               pidfd_.get()));
  }
}

int ChildProcess::wait() {
  if (reaped_) throw HarnessError(fmt::format("pid {} was already reaped", pid_));
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) throw os_error(fmt::format("waitpid {}", pid_));
  }
  reaped_ = true;
  return status;
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return fmt::format("killed by signal {} ({}){}", sig, name != nullptr ? name : "unknown",
                       WCOREDUMP(status) ? ", core dumped" : "");
  }
  return fmt::format("ended with wait status {:#x}", status);
}

}  // namespace flakelab::harness
