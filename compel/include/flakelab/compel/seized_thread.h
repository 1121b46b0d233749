// One ptrace attachment to one thread (PTRACE_SEIZE'd). The object is the sole owner
// of the attachment: destroying it detaches, putting back the signal mask if compel
// changed it and re-sending signals that arrived while compel was in control.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <vector>

namespace flakelab::compel {

class SeizedThread {
 public:
  // Seizes `tid` (PTRACE_SEIZE + PTRACE_INTERRUPT); call wait_initial_stop() next.
  // Throws CompelError; ESRCH is reported with error_number() == ESRCH.
  SeizedThread(pid_t tgid, pid_t tid);
  ~SeizedThread();
  SeizedThread(const SeizedThread&) = delete;
  SeizedThread& operator=(const SeizedThread&) = delete;

  pid_t tid() const { return tid_; }
  pid_t tgid() const { return tgid_; }
  // Waits for the stop requested at seize time. Returns false if the thread exited
  // instead (the attachment is then gone).
  bool wait_initial_stop();
  // True if the thread was in a job-control (group) stop when seized.
  bool group_stopped() const { return group_stopped_; }

  user_regs_struct get_regs() const;
  void set_regs(const user_regs_struct& regs);
  std::vector<uint8_t> get_xstate() const;    // NT_X86_XSTATE, as the kernel sized it
  void set_xstate(const std::vector<uint8_t>& xstate);
  uint64_t get_sigmask() const;
  void set_sigmask(uint64_t mask);

  // Resumes with PTRACE_CONT (optionally delivering `sig`).
  void resume(int sig = 0);
  void resume_syscall(int sig = 0);           // PTRACE_SYSCALL
  void interrupt();                           // PTRACE_INTERRUPT
  // Waits for the next stop; returns the wait status. Throws if the thread exits.
  int wait_stop();
  bool running() const { return running_; }

  // Blocks every signal while compel runs code in the thread; remembers the mask.
  void block_signals();
  // Puts the remembered mask back (no-op if signals are not blocked by compel).
  void restore_signal_mask();
  bool signals_blocked() const { return signals_blocked_; }
  // The thread returned to its own code by itself (rt_sigreturn restored its mask).
  void forget_blocked_signals() { signals_blocked_ = false; }
  uint64_t original_sigmask() const { return original_mask_; }

  // A signal that was dequeued while compel drove the thread; sent again on release.
  void defer_signal(const siginfo_t& info) { deferred_.push_back(info); }
  const std::vector<siginfo_t>& deferred_signals() const { return deferred_; }

  // Detaches. After this the object owns nothing. Never throws.
  void release() noexcept;
  bool attached() const { return attached_; }

 private:
  pid_t tgid_;
  pid_t tid_;
  bool attached_ = false;
  bool running_ = true;   // not in a ptrace-stop that we have waited for
  bool group_stopped_ = false;
  bool signals_blocked_ = false;
  uint64_t original_mask_ = 0;
  std::vector<siginfo_t> deferred_;
};

}  // namespace flakelab::compel
