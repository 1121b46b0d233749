// Small RAII owners for the selftest scenarios: a file descriptor and a forked child
// (killed with SIGKILL and reaped if still owned when the owner goes away).
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <system_error>
#include <utility>

namespace flakelab::scenarios::selftest {

inline std::system_error os_error(const std::string& what) {
  return std::system_error(errno, std::generic_category(), what);
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read;
  Fd write;
  static Pipe make() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw os_error("pipe2");
    return Pipe{Fd(fds[0]), Fd(fds[1])};
  }
};

// Owns a forked child until it is reaped.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }
  pid_t pid() const { return pid_; }
  // Waits for the child to exit; returns its wait status.
  int wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0) {
      if (errno != EINTR) throw os_error("waitpid " + std::to_string(pid_));
    }
    pid_ = -1;
    return status;
  }
  // True while the child has not exited (it is not reaped by this call unless it exited).
  bool alive() {
    int status = 0;
    pid_t got = ::waitpid(pid_, &status, WNOHANG);
    if (got < 0) throw os_error("waitpid " + std::to_string(pid_));
    if (got == 0) return true;
    pid_ = -1;
    return false;
  }

 private:
  pid_t pid_;
};

}  // namespace flakelab::scenarios::selftest
