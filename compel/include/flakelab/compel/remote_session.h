// Runs system calls (and, for the parasite, whole code blobs) inside one seized
// thread, then puts the thread back exactly as it was.
//
// The victim's own code is never written. A remote syscall runs on a `syscall; ret`
// the victim already has (return_gadgets.h), driven by PTRACE_SYSCALL (entry and
// exit stops). Before it changes any register the session writes an rt_sigframe
// with the thread's original registers, FPU state and signal mask below the red
// zone of its stack (return_frame.h) and points rsp at it: whenever the injector
// leaves the thread, the pending syscall finishes, `ret` leads to libc's
// `mov $15, %rax; syscall` and rt_sigreturn puts the thread back by itself. So an
// injector that dies at any instant (the kernel then detaches its tracees) leaves
// registers, code and signal mask intact. A caller that made state in the victim
// (a mapping, an fd) can put undo code of its own as the step before that return
// (set_return_step()).
//
// A thread stopped inside a restartable syscall is first let through the kernel's
// restart (its real signal mask comes back if a sigsuspend/ppoll had swapped it)
// and caught at the re-entry, which is skipped; the return frame then resumes it
// "about to issue that syscall", while settle() puts back the exact interrupted
// state (from an interrupt stop, where the kernel still applies its restart rules).
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "flakelab/compel/remote_ptr.h"
#include "flakelab/compel/return_gadgets.h"
#include "flakelab/compel/seized_thread.h"
#include "flakelab/compel/syscall_arg.h"

namespace flakelab::compel {

class RemoteSession {
 public:
  // Throws CompelError (ENOEXEC) if the victim has no code to return through.
  explicit RemoteSession(SeizedThread& thread);
  ~RemoteSession();
  RemoteSession(const RemoteSession&) = delete;
  RemoteSession& operator=(const RemoteSession&) = delete;

  // Raw result: >= 0, or -errno as the kernel returned it. Arguments are integers
  // or RemoteAddr (syscall_arg.h); a local pointer does not compile.
  long syscall(long nr, SyscallArg a1 = {}, SyscallArg a2 = {}, SyscallArg a3 = {}, SyscallArg a4 = {},
               SyscallArg a5 = {}, SyscallArg a6 = {});
  // A syscall whose own `ret` runs `continuation` (stack words for `ret`s to pop,
  // e.g. gadgets and their operands) and then the return frame: what runs if the
  // injector dies from here on. Used to make something (a mapping at a known
  // address) together with what removes it. The slot then holds the last word:
  // call set_return_step() before the next plain syscall.
  long syscall_then(const std::vector<uint64_t>& continuation, long nr, SyscallArg a1 = {}, SyscallArg a2 = {},
                    SyscallArg a3 = {}, SyscallArg a4 = {}, SyscallArg a5 = {}, SyscallArg a6 = {});
  // Same, but throws CompelError("remote <what> in tid N: <errno text>") on failure.
  long syscall_checked(std::string_view what, long nr, SyscallArg a1 = {}, SyscallArg a2 = {}, SyscallArg a3 = {},
                       SyscallArg a4 = {}, SyscallArg a5 = {}, SyscallArg a6 = {});

  // Runs injected code that ends in an int3: `regs` (original_regs() with rip and
  // whatever the code reads changed) with all signals blocked, until the thread
  // traps on the int3 at `trap_at`; returns its registers there. Any other stop is
  // an error (CompelError). The code must not return into the thread's own code.
  // (For processes the engine made itself: an injector dying inside leaves the
  // thread at that int3.)
  user_regs_struct run_to_trap(const user_regs_struct& regs, RemoteAddr trap_at);

  // Starts the thread running code at `rip` with stack `rsp` and first argument `rdi`,
  // all signals blocked. The thread runs free until interrupt_running() or
  // finish_return_chain().
  void run_free(RemoteAddr rip, RemoteAddr rsp, RemoteAddr rdi);
  // Stops a thread started with run_free() and returns its registers.
  user_regs_struct interrupt_running();
  // True if `regs` (of a stopped thread) are on the return chain: between the last
  // syscall of injected code and the rt_sigreturn into the original context.
  bool in_return_chain(const user_regs_struct& regs) const;
  // Follows the stopped thread syscall by syscall until its rt_sigreturn is done
  // (injected code on its way out, or the return chain). The thread is then in its
  // original context, with syscall restart applied; settle() still puts back the
  // exact stopped state (so a signal that comes later interrupts the syscall as it
  // would have), unless rt_sigreturn voided it (a restart block: the call is
  // re-issued instead).
  void finish_return_chain();
  // Lets the thread take its return chain now (the return step, e.g. undo code,
  // then rt_sigreturn) under the injector's eye, and adopts the result.
  void return_through_frame();
  // The thread left injected code by itself (rt_sigreturn into its own context):
  // adopt its current state as the state to restore.
  void rebase();

  // Puts back signal mask, FPU state and registers (in that order: until the last
  // write the return frame covers the thread); the thread stays stopped.
  void settle();

  // The return frame for the current original context (written on first use).
  // rsp = return_slot() and `ret` returns the thread to its original context;
  // return_frame() is where the chain's pretcode sits (for code that jumps to the
  // syscall gadget itself as its last step).
  RemoteAddr return_slot();
  RemoteAddr return_frame() { return return_slot() + 8; }
  // What `ret` after a remote syscall runs before the sigreturn: undo code (it must
  // end by jumping to gadgets().syscall_ret with rsp = return_frame()), or, with a
  // null address, nothing.
  void set_return_step(RemoteAddr code);
  // Same, writing `size` bytes of that code at `code_at` in the same system call
  // (the shortest window for a page that just appeared).
  void set_return_step(RemoteAddr entry, RemoteAddr code_at, const void* code, size_t size);
  // 128 bytes of victim memory for a remote syscall's output: the siginfo part of
  // the return frame, which rt_sigreturn never reads. Valid until rebase().
  RemoteAddr scratch_area();
  static constexpr size_t kScratchAreaSize = 128;
  const ReturnGadgets& gadgets() const { return gadgets_; }

  // Test hook: called (in the injector) at every point where the thread's state
  // changes: "frame-written", "regs-set", "entry-stop", "exit-stop", "settled".
  // Lets tests kill the injector at exactly the K-th of them. Process-wide.
  static void set_step_hook(std::function<void(std::string_view step)> hook);

  SeizedThread& thread() { return thread_; }
  const user_regs_struct& original_regs() const { return orig_regs_; }
  const std::vector<uint8_t>& original_xstate() const { return orig_xstate_; }
  // True if the thread was stopped inside a system call that the kernel will restart.
  bool in_restartable_syscall() const { return started_in_restartable_; }

 private:
  void capture();
  void arm();
  void pass_syscall_restart();
  void write_return_frame();
  void reach_interrupt_stop();
  long run_syscall(user_regs_struct regs, RemoteAddr rsp = RemoteAddr());
  // Resumes with PTRACE_SYSCALL until the next syscall stop; returns its kind
  // (PTRACE_SYSCALL_INFO_ENTRY/EXIT) and, for an entry, the syscall number.
  uint8_t next_syscall_stop(long* nr, long* rval = nullptr);
  user_regs_struct run_until(const user_regs_struct& regs, RemoteAddr trap_at);
  [[noreturn]] void unexpected_stop(std::string_view doing, int status);

  SeizedThread& thread_;
  ReturnGadgets gadgets_;
  user_regs_struct orig_regs_{};
  user_regs_struct frame_regs_{};  // what the return frame resumes (restart applied)
  std::vector<uint8_t> orig_xstate_;
  RemoteAddr slot_;          // null until the return frame is written
  RemoteAddr frame_top_;     // one past the frame's last byte
  bool started_in_restartable_ = false;
  bool regs_dirty_ = false;
  bool mask_known_ = false;
  bool running_free_ = false;
};

}  // namespace flakelab::compel
