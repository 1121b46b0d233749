// Runs system calls (and, for the parasite, whole code blobs) inside one seized
// thread, then puts the thread back exactly as it was.
//
// The session saves the thread's registers (GP + XSTATE) when it starts. To run a
// syscall it writes `syscall; int3` at the thread's instruction pointer (keeping the
// original bytes), blocks all signals with PTRACE_SETSIGMASK, points the registers at
// the stub and continues to the trap. settle() and the destructor put back the code
// bytes, the registers and the signal mask: the thread is then ready to be detached
// and, if it was inside a system call, the kernel restarts that call as it would
// have (orig_rax/rax are restored untouched).
//
// Between settle() and the next syscall the victim is consistent, so an injector
// that dies there (the kernel detaches its tracees) leaves the victim intact.
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "flakelab/compel/remote_ptr.h"
#include "flakelab/compel/seized_thread.h"
#include "flakelab/compel/syscall_arg.h"

namespace flakelab::compel {

class RemoteSession {
 public:
  explicit RemoteSession(SeizedThread& thread);
  ~RemoteSession();
  RemoteSession(const RemoteSession&) = delete;
  RemoteSession& operator=(const RemoteSession&) = delete;

  // Raw result: >= 0, or -errno as the kernel returned it. Arguments are integers
  // or RemoteAddr (syscall_arg.h); a local pointer does not compile.
  long syscall(long nr, SyscallArg a1 = {}, SyscallArg a2 = {}, SyscallArg a3 = {}, SyscallArg a4 = {},
               SyscallArg a5 = {}, SyscallArg a6 = {});
  // Same, but throws CompelError("remote <what> in tid N: <errno text>") on failure.
  long syscall_checked(std::string_view what, long nr, SyscallArg a1 = {}, SyscallArg a2 = {}, SyscallArg a3 = {},
                       SyscallArg a4 = {}, SyscallArg a5 = {}, SyscallArg a6 = {});

  // Runs injected code that ends in an int3: `regs` (original_regs() with rip and
  // whatever the code reads changed) with all signals blocked, until the thread
  // traps on the int3 at `trap_at`; returns its registers there. Any other stop is
  // an error (CompelError). The code must not return into the thread's own code.
  user_regs_struct run_to_trap(const user_regs_struct& regs, RemoteAddr trap_at);

  // Starts the thread running code at `rip` with stack `rsp` and first argument `rdi`,
  // all signals blocked. The thread runs free until interrupt_running().
  void run_free(RemoteAddr rip, RemoteAddr rsp, RemoteAddr rdi);
  // Stops a thread started with run_free() and returns its registers.
  user_regs_struct interrupt_running();
  // The thread left injected code by itself (rt_sigreturn into its own context):
  // adopt its current state as the state to restore.
  void rebase();

  // Puts back code bytes, registers and signal mask; the thread stays stopped.
  void settle();

  SeizedThread& thread() { return thread_; }
  const user_regs_struct& original_regs() const { return orig_regs_; }
  const std::vector<uint8_t>& original_xstate() const { return orig_xstate_; }
  RemoteAddr stub_address() const { return stub_addr_; }
  // True if the thread was stopped inside a system call that the kernel will restart.
  bool in_restartable_syscall() const;

 private:
  void capture();
  void arm();
  void install_stub();
  void remove_stub();
  long run_stub(const user_regs_struct& regs);
  user_regs_struct run_until(const user_regs_struct& regs, RemoteAddr trap_at);

  SeizedThread& thread_;
  user_regs_struct orig_regs_{};
  std::vector<uint8_t> orig_xstate_;
  RemoteAddr stub_addr_;
  uint64_t saved_word_ = 0;
  bool stub_installed_ = false;
  bool regs_dirty_ = false;
  bool mask_known_ = false;
  bool running_free_ = false;
};

}  // namespace flakelab::compel
