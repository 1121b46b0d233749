// Sole owner of a child process from its creation until it is reaped: its pid and a
// pidfd (which a recycled pid cannot fool). Whoever forgets it kills and reaps it.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "flakelab/base/unique_fd.h"

namespace flakelab::base {

class ChildProcess {
 public:
  ChildProcess() = default;  // owns nothing
  // Takes ownership of the unreaped child `pid`, with a pidfd for it.
  ChildProcess(pid_t pid, UniqueFd pidfd);
  // Takes ownership of the unreaped child `pid` and opens its pidfd. Throws OsError.
  explicit ChildProcess(pid_t pid);
  // Forks a child that runs `body` and exits 0 (120 if `body` throws). The child gets
  // SIGKILL when its parent dies. Throws OsError.
  static ChildProcess fork(const std::function<void()>& body);

  ChildProcess(ChildProcess&& other) noexcept;
  // Kills and reaps the child this one owned, then takes `other`'s.
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { kill_and_reap(); }

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }  // readable once the child has exited
  bool owns() const { return pid_ > 0 && !reaped_; }
  bool reaped() const { return reaped_; }

  // Sends SIGKILL through the pidfd. A child that already exited is not an error.
  // Throws OsError.
  void kill();
  // Blocks until the child exits and reaps it; returns its waitpid() status. Throws
  // OsError (EINVAL if it owns no unreaped child).
  int wait();
  // Whether the child still runs; one that has exited is reaped by this call.
  // Throws OsError.
  bool alive();
  // kill() and wait(), errors ignored (there is nothing better to do with them in a
  // destructor); afterwards it owns nothing.
  void kill_and_reap() noexcept;

 private:
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  bool reaped_ = false;
};

// "exited with status 7", "killed by signal 11 (Segmentation fault)".
std::string describe_wait_status(int status);

}  // namespace flakelab::base
