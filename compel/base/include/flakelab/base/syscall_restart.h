// What a thread stopped inside a syscall does when it runs again. The kernel leaves an
// internal code (include/linux/errno.h, never seen by user space) in rax of a task it
// stopped in an interrupted syscall and, on the way back to user space, turns it into a
// restart or an error. Whoever sets such a task's registers itself (a parasite's
// sigreturn frame, a restore) bypasses that fixup and must apply it, and the right
// answer depends on whether the task keeps its kernel restart block.
#pragma once

#include <sys/user.h>

namespace flakelab::base {

// Restart whatever happened (no handler ran, or one with SA_RESTART ran).
inline constexpr long kERESTARTSYS = 512;
// Restart always, even after a handler without SA_RESTART (e.g. a blocked send).
inline constexpr long kERESTARTNOINTR = 513;
// Restart only if no handler ran; EINTR after one (e.g. pause, sigsuspend).
inline constexpr long kERESTARTNOHAND = 514;
// Continue through the kernel's per-task restart block with restart_syscall(2): used by
// calls whose arguments must change between attempts (nanosleep's remaining time, a
// poll or futex timeout). The block lives in the task and dies with it.
inline constexpr long kERESTART_RESTARTBLOCK = 516;

// True if `regs` are those of a thread stopped inside a syscall that the kernel would
// restart (orig_rax holds a syscall number and rax one of the codes above).
bool interrupted_in_restartable_syscall(const user_regs_struct& regs);

// Who resumes the thread, which decides what the restart block is worth.
enum class ResumeContext {
  // The same task continues after a parasite's cure (rt_sigreturn from a frame we
  // built). rt_sigreturn turns syscall restart off, so every restart code re-issues the
  // original call with its original registers.
  kCured,
  // A task recreated by restore: the restart block was lost with the dumped process.
  // The three plain codes re-issue the call; ERESTART_RESTARTBLOCK re-issues nanosleep
  // and clock_nanosleep (a relative sleep lasts at least as asked, an absolute one ends
  // on its deadline, sleep() sees no bogus EINTR) and makes the others (poll/select,
  // futex waits with a timeout) return EINTR, as CRIU does.
  kRestored,
};

// The registers the thread must be given so that it resumes as the kernel would have
// resumed it in `context`: a re-issued call has rax = its number and rip back on the
// 2-byte syscall instruction. orig_rax is always -1 in the result, so the kernel does
// no restart fixup of its own when these registers are set through ptrace.
user_regs_struct registers_to_resume(user_regs_struct regs, ResumeContext context);

}  // namespace flakelab::base
