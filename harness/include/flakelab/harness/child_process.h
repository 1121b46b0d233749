// Sole owner of a child process from its creation until it is reaped.
#pragma once

#include <sys/types.h>

#include <string>

#include "flakelab/harness/unique_fd.h"

namespace flakelab::harness {

class ChildProcess {
 public:
  // Takes ownership of the unreaped child `pid`, with a pidfd for it.
  ChildProcess(pid_t pid, UniqueFd pidfd);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Kills (SIGKILL) and reaps the child if it was not reaped yet.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }   // readable once the child has exited
  bool reaped() const { return reaped_; }

  // Sends SIGKILL through the pidfd. A child that already exited is not an error.
  // Throws HarnessError.
  void kill();
  // Blocks until the child exits and reaps it; returns its waitpid() status.
  // Throws HarnessError.
  int wait();

 private:
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  bool reaped_ = false;
};

// "exited with status 7", "killed by signal 11 (Segmentation fault)".
std::string describe_wait_status(int status);

}  // namespace flakelab::harness
