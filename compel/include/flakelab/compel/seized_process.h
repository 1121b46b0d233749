// All threads of one process, seized with PTRACE_SEIZE + PTRACE_INTERRUPT.
//
// Construction refuses clearly (CompelError) for: a nonexistent pid, a zombie, a
// kernel thread, a process already traced by someone else, and the injector itself.
// Threads that appear while seizing are picked up: /proc/PID/task is re-scanned
// after every round of stops until a scan finds nothing new. Destruction releases
// every thread in its original state; a job-control-stopped process stays stopped.
#pragma once

#include <sys/types.h>

#include <memory>
#include <vector>

#include "flakelab/compel/seized_thread.h"

namespace flakelab::compel {

class SeizedProcess {
 public:
  explicit SeizedProcess(pid_t pid);
  ~SeizedProcess();
  SeizedProcess(const SeizedProcess&) = delete;
  SeizedProcess& operator=(const SeizedProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool was_stopped() const { return was_stopped_; }
  SeizedThread& leader();
  SeizedThread* find_thread(pid_t tid);
  const std::vector<std::unique_ptr<SeizedThread>>& threads() const { return threads_; }

  // Detaches every thread (idempotent, never throws).
  void release() noexcept;

 private:
  pid_t pid_;
  bool was_stopped_ = false;
  std::vector<std::unique_ptr<SeizedThread>> threads_;
};

}  // namespace flakelab::compel
