#include "flakelab/compel/remote_session.h"

#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "flakelab/base/syscall_restart.h"
#include "flakelab/compel/error.h"
#include "flakelab/compel/parasite_abi.h"
#include "flakelab/compel/remote_memory.h"
#include "return_frame.h"

namespace flakelab::compel {
namespace {

// The kernel's struct ptrace_syscall_info (<linux/ptrace.h> clashes with <sys/ptrace.h>).
constexpr int kGetSyscallInfo = 0x420e;  // PTRACE_GET_SYSCALL_INFO
constexpr uint8_t kSyscallEntry = 1, kSyscallExit = 2;
struct SyscallInfo {
  uint8_t op;
  uint8_t pad[3];
  uint32_t arch;
  uint64_t instruction_pointer;
  uint64_t stack_pointer;
  union {
    struct {
      uint64_t nr;
      uint64_t args[6];
    } entry;
    struct {
      int64_t rval;
      uint8_t is_error;
    } exit;
    uint8_t raw[64];
  };
};

constexpr uint64_t kSyscallInsnLength = 2;
constexpr uint64_t kSigreturnGadgetLength = 9;

std::string tid_text(pid_t tid) { return "tid " + std::to_string(tid); }

std::function<void(std::string_view)>& step_hook() {
  static std::function<void(std::string_view)> hook;
  return hook;
}

void step(std::string_view name) {
  if (step_hook()) step_hook()(name);
}

std::string hex(uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

void RemoteSession::set_step_hook(std::function<void(std::string_view)> hook) { step_hook() = std::move(hook); }

RemoteSession::RemoteSession(SeizedThread& thread) : thread_(thread) {
  if (thread_.running())
    throw CompelError("remote session: " + tid_text(thread_.tid()) + " is not stopped", EBUSY);
  capture();
  gadgets_ = find_return_gadgets(thread_.tgid(), RemoteAddr(orig_regs_.rip));
  started_in_restartable_ = base::interrupted_in_restartable_syscall(orig_regs_);
}

RemoteSession::~RemoteSession() {
  try {
    settle();
  } catch (const CompelError&) {
    // The thread is gone or unreachable: nothing left to put back.
  }
}

void RemoteSession::capture() {
  orig_regs_ = thread_.get_regs();
  orig_xstate_ = thread_.get_xstate();
  frame_regs_ = orig_regs_;
  slot_ = RemoteAddr();
  regs_dirty_ = false;
}

void RemoteSession::unexpected_stop(std::string_view doing, int status) {
  user_regs_struct now{};
  try {
    now = thread_.get_regs();
  } catch (const CompelError&) {
  }
  throw CompelError(std::string(doing) + " in " + tid_text(thread_.tid()) + ": unexpected stop (signal " +
                        std::to_string(WSTOPSIG(status)) + ", event " + std::to_string(status >> 16) + ") at ip " +
                        hex(now.rip),
                    EIO);
}

uint8_t RemoteSession::next_syscall_stop(long* nr, long* rval) {
  int stale_traps = 0;
  for (;;) {
    thread_.resume_syscall();
    int status = thread_.wait_stop();
    int sig = WSTOPSIG(status);
    int event = status >> 16;
    if (event == 0 && sig == (SIGTRAP | 0x80)) {
      SyscallInfo info{};
      if (ptrace(static_cast<__ptrace_request>(kGetSyscallInfo), thread_.tid(), reinterpret_cast<void*>(sizeof(info)),
                 &info) <= 0)
        throw_errno("PTRACE_GET_SYSCALL_INFO " + tid_text(thread_.tid()));
      if (nr && info.op == kSyscallEntry) *nr = static_cast<long>(info.entry.nr);
      if (rval && info.op == kSyscallExit) *rval = static_cast<long>(info.exit.rval);  // rax, as GETREGS would read it
      step(info.op == kSyscallEntry ? "entry-stop" : "exit-stop");
      return info.op;
    }
    if (event == PTRACE_EVENT_STOP && ++stale_traps <= 4) continue;  // a job-control trap queued from seizing
    if (event == 0 && (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE))
      unexpected_stop("waiting for a syscall stop", status);  // a fault would only repeat
    if (event == 0 && sig != SIGTRAP) {
      // A signal arrived before signals were blocked; keep it for the victim.
      siginfo_t info{};
      if (ptrace(PTRACE_GETSIGINFO, thread_.tid(), nullptr, &info) == 0) thread_.defer_signal(info);
      continue;
    }
    unexpected_stop("waiting for a syscall stop", status);
  }
}

void RemoteSession::pass_syscall_restart() {
  // A thread stopped in sigsuspend/ppoll/pselect has a temporary mask installed and
  // its real one saved in the kernel (TIF_RESTORE_SIGMASK), which PTRACE_SETSIGMASK
  // would drop. Untouched, it takes the kernel's restart path (putting the real mask
  // back) and re-enters its syscall: catch that entry and skip it.
  long nr = -1;
  if (next_syscall_stop(&nr) != kSyscallEntry)
    throw CompelError("remote session: " + tid_text(thread_.tid()) + " did not re-enter its interrupted syscall", EIO);
  user_regs_struct at_entry = thread_.get_regs();
  // Without the injector the thread is now "about to issue that syscall" again.
  // rt_sigreturn voids the kernel's restart block, so restart_syscall becomes the
  // original call (as base::ResumeContext::kCured does).
  frame_regs_ = at_entry;
  frame_regs_.rax = nr == SYS_restart_syscall ? orig_regs_.orig_rax : at_entry.orig_rax;
  frame_regs_.rip -= kSyscallInsnLength;
  frame_regs_.orig_rax = static_cast<uint64_t>(-1);
  write_return_frame();
  user_regs_struct skip = at_entry;
  skip.orig_rax = static_cast<uint64_t>(-1);
  skip.rip = gadgets_.ret().as_int();
  skip.rsp = slot_.as_int();
  thread_.set_regs(skip);
  regs_dirty_ = true;
  if (next_syscall_stop(nullptr) != kSyscallExit)
    throw CompelError("remote session: " + tid_text(thread_.tid()) + ": no exit stop after a skipped syscall", EIO);
}

void RemoteSession::write_return_frame() {
  uint64_t mask = thread_.signals_blocked() ? thread_.original_sigmask() : thread_.get_sigmask();
  ReturnFrame f = build_return_frame(frame_regs_, orig_xstate_, mask, gadgets_, thread_.tgid());
  write_remote(thread_.tgid(), f.slot, f.bytes.data(), f.bytes.size(),
               "return frame below the stack pointer of " + tid_text(thread_.tid()));
  slot_ = f.slot;
  frame_top_ = f.slot + f.bytes.size();
  step("frame-written");
}

RemoteAddr RemoteSession::return_slot() {
  arm();
  return slot_;
}

void RemoteSession::set_return_step(RemoteAddr entry, RemoteAddr code_at, const void* code, size_t size) {
  arm();
  const uint64_t next = entry.as_int();
  iovec local[2] = {{const_cast<void*>(code), size}, {const_cast<uint64_t*>(&next), sizeof(next)}};
  iovec remote[2] = {remote_iovec(code_at, size), remote_iovec(slot_, sizeof(next))};
  if (process_vm_writev(thread_.tgid(), local, 2, remote, 2, 0) != static_cast<ssize_t>(size + sizeof(next)))
    throw_errno("process_vm_writev pid " + std::to_string(thread_.tgid()) + " (undo code and return step of " +
                tid_text(thread_.tid()) + ")");
}

RemoteAddr RemoteSession::scratch_area() {
  static_assert(sizeof(flk_rt_sigframe::siginfo) == kScratchAreaSize);
  return return_frame() + offsetof(flk_rt_sigframe, siginfo);
}

void RemoteSession::set_return_step(RemoteAddr code) {
  arm();
  const uint64_t next = code.is_null() ? gadgets_.ret().as_int() : code.as_int();
  write_remote(thread_.tgid(), slot_, &next, sizeof(next), "return step of " + tid_text(thread_.tid()));
}

void RemoteSession::arm() {
  if (!mask_known_) {
    if (base::interrupted_in_restartable_syscall(orig_regs_)) pass_syscall_restart();
    mask_known_ = true;
  }
  if (slot_.is_null()) write_return_frame();
}

long RemoteSession::run_syscall(user_regs_struct regs, RemoteAddr rsp) {
  if (running_free_) throw CompelError("remote syscall: " + tid_text(thread_.tid()) + " is running injected code", EBUSY);
  arm();
  const long want = static_cast<long>(regs.rax);
  regs.orig_rax = static_cast<uint64_t>(-1);
  regs.rip = gadgets_.syscall_ret.as_int();
  regs.rsp = rsp.is_null() ? slot_.as_int() : rsp.as_int();
  // Registers first: from here on the return frame covers the thread, mask included.
  thread_.set_regs(regs);
  regs_dirty_ = true;
  step("regs-set");
  thread_.block_signals();
  long nr = -1;
  if (next_syscall_stop(&nr) != kSyscallEntry || nr != want)
    throw CompelError("remote syscall " + std::to_string(want) + " in " + tid_text(thread_.tid()) +
                          ": entered syscall " + std::to_string(nr) + " instead",
                      EIO);
  // The exit stop's syscall info carries the result: no PTRACE_GETREGS round trip.
  long result = 0;
  if (next_syscall_stop(nullptr, &result) != kSyscallExit)
    throw CompelError("remote syscall " + std::to_string(want) + " in " + tid_text(thread_.tid()) + ": no exit stop",
                      EIO);
  return result;
}

namespace {

// The thread's own registers with a syscall's number and arguments (x86-64 ABI order).
user_regs_struct syscall_regs(const user_regs_struct& base, long nr, SyscallArg a1, SyscallArg a2, SyscallArg a3,
                              SyscallArg a4, SyscallArg a5, SyscallArg a6) {
  user_regs_struct regs = base;
  regs.rax = static_cast<uint64_t>(nr);
  regs.rdi = a1.register_value();
  regs.rsi = a2.register_value();
  regs.rdx = a3.register_value();
  regs.r10 = a4.register_value();
  regs.r8 = a5.register_value();
  regs.r9 = a6.register_value();
  return regs;
}

}  // namespace

long RemoteSession::syscall(long nr, SyscallArg a1, SyscallArg a2, SyscallArg a3, SyscallArg a4, SyscallArg a5,
                            SyscallArg a6) {
  return run_syscall(syscall_regs(orig_regs_, nr, a1, a2, a3, a4, a5, a6));
}

long RemoteSession::syscall_then(const std::vector<uint64_t>& continuation, long nr, SyscallArg a1, SyscallArg a2,
                                 SyscallArg a3, SyscallArg a4, SyscallArg a5, SyscallArg a6) {
  if (continuation.empty()) return syscall(nr, a1, a2, a3, a4, a5, a6);
  arm();
  // The words end where the frame begins: the last one takes the slot.
  const RemoteAddr at = return_frame() - continuation.size() * sizeof(uint64_t);
  write_remote(thread_.tgid(), at, continuation.data(), continuation.size() * sizeof(uint64_t),
               "continuation below the return frame of " + tid_text(thread_.tid()));
  return run_syscall(syscall_regs(orig_regs_, nr, a1, a2, a3, a4, a5, a6), at);
}

long RemoteSession::syscall_checked(std::string_view what, long nr, SyscallArg a1, SyscallArg a2, SyscallArg a3,
                                    SyscallArg a4, SyscallArg a5, SyscallArg a6) {
  long r = syscall(nr, a1, a2, a3, a4, a5, a6);
  if (r < 0 && r > -4096)
    throw_errno("remote " + std::string(what) + " in " + tid_text(thread_.tid()), static_cast<int>(-r));
  return r;
}

user_regs_struct RemoteSession::run_to_trap(const user_regs_struct& regs, RemoteAddr trap_at) {
  if (running_free_) throw CompelError("remote code: " + tid_text(thread_.tid()) + " is running injected code", EBUSY);
  arm();
  return run_until(regs, trap_at);
}

// `call_regs.rip` runs until the int3 at `trap_at` (rip is one past it then).
user_regs_struct RemoteSession::run_until(const user_regs_struct& call_regs, RemoteAddr trap_at) {
  user_regs_struct regs = call_regs;
  regs.orig_rax = static_cast<uint64_t>(-1);  // no syscall-restart fixups on the way out
  thread_.set_regs(regs);
  regs_dirty_ = true;
  thread_.block_signals();
  thread_.resume();
  int stale_traps = 0;
  for (;;) {
    int status = thread_.wait_stop();
    int sig = WSTOPSIG(status);
    if ((status >> 16) == PTRACE_EVENT_STOP && ++stale_traps <= 4) {
      thread_.resume();
      continue;
    }
    if ((status >> 16) == 0 && sig == SIGTRAP) {
      user_regs_struct after = thread_.get_regs();
      if (RemoteAddr(after.rip) == trap_at + 1) return after;
    }
    if ((status >> 16) == 0 && sig != SIGTRAP) {
      siginfo_t info{};
      if (ptrace(PTRACE_GETSIGINFO, thread_.tid(), nullptr, &info) == 0) thread_.defer_signal(info);
      thread_.resume(0);
      continue;
    }
    unexpected_stop("remote code (rax " + std::to_string(call_regs.rax) + ")", status);
  }
}

void RemoteSession::run_free(RemoteAddr rip, RemoteAddr rsp, RemoteAddr rdi) {
  if (running_free_) throw CompelError("remote code: " + tid_text(thread_.tid()) + " is running injected code", EBUSY);
  arm();
  user_regs_struct regs = orig_regs_;
  regs.orig_rax = static_cast<uint64_t>(-1);
  regs.rip = rip.as_int();
  regs.rsp = rsp.as_int();
  regs.rdi = rdi.as_int();
  regs.rax = 0;
  thread_.set_regs(regs);
  regs_dirty_ = true;
  thread_.block_signals();
  thread_.resume();
  running_free_ = true;
}

user_regs_struct RemoteSession::interrupt_running() {
  if (!running_free_) return thread_.get_regs();
  thread_.interrupt();
  for (;;) {
    int status = thread_.wait_stop();
    if ((status >> 16) == PTRACE_EVENT_STOP) break;
    int sig = WSTOPSIG(status);
    // Signals are blocked, so this is a synchronous fault or a signal from outside
    // that could not be blocked; keep it for the victim.
    siginfo_t info{};
    if (ptrace(PTRACE_GETSIGINFO, thread_.tid(), nullptr, &info) == 0 && sig != SIGTRAP)
      thread_.defer_signal(info);
    thread_.resume(0);
  }
  running_free_ = false;
  return thread_.get_regs();
}

bool RemoteSession::in_return_chain(const user_regs_struct& regs) const {
  if (slot_.is_null()) return false;
  const RemoteAddr rip(regs.rip), rsp(regs.rsp);
  const RemoteAddr frame = slot_ + 8;
  if (rip == gadgets_.syscall_ret) return rsp == slot_ || rsp == frame;  // about to issue the last syscall
  if (rip == gadgets_.ret()) return rsp == slot_ || rsp == frame;
  return rip >= gadgets_.sigreturn && rip < gadgets_.sigreturn + kSigreturnGadgetLength && rsp == frame + 8;
}

void RemoteSession::finish_return_chain() {
  for (;;) {
    long nr = -1;
    if (next_syscall_stop(&nr) == kSyscallEntry && nr == SYS_rt_sigreturn) {
      if (next_syscall_stop(nullptr) != kSyscallExit)
        throw CompelError("remote code in " + tid_text(thread_.tid()) + ": no exit stop after rt_sigreturn", EIO);
      running_free_ = false;
      thread_.forget_blocked_signals();  // rt_sigreturn put the mask back
      if (base::interrupted_in_restartable_syscall(orig_regs_) &&
          -static_cast<long>(orig_regs_.rax) == base::kERESTART_RESTARTBLOCK) {
        // rt_sigreturn reset the restart block: what the frame resumed is the state now.
        mask_known_ = false;
        capture();
        return;
      }
      regs_dirty_ = true;  // at frame_regs_; the exact original comes back in settle()
      return;
    }
  }
}

void RemoteSession::return_through_frame() {
  if (running_free_) throw CompelError("remote code: " + tid_text(thread_.tid()) + " is running injected code", EBUSY);
  arm();
  user_regs_struct regs = thread_.get_regs();
  regs.orig_rax = static_cast<uint64_t>(-1);
  regs.rip = gadgets_.ret().as_int();
  regs.rsp = slot_.as_int();
  thread_.set_regs(regs);
  regs_dirty_ = true;
  thread_.block_signals();
  finish_return_chain();
}

void RemoteSession::rebase() {
  running_free_ = false;
  thread_.forget_blocked_signals();
  mask_known_ = false;
  capture();
}

void RemoteSession::settle() {
  if (running_free_) interrupt_running();
  if (regs_dirty_ && base::interrupted_in_restartable_syscall(orig_regs_)) reach_interrupt_stop();
  // Mask, FPU state, then registers: until the registers are back, the return
  // frame still covers the thread.
  thread_.restore_signal_mask();
  if (regs_dirty_) {
    thread_.set_xstate(orig_xstate_);
    thread_.set_regs(orig_regs_);
    regs_dirty_ = false;
    step("settled");
  }
}

// The kernel reads "interrupted syscall, restart it" registers only on its signal
// path, not after a syscall stop: go to a PTRACE_INTERRUPT stop first.
void RemoteSession::reach_interrupt_stop() {
  thread_.interrupt();
  thread_.resume();
  for (;;) {
    int status = thread_.wait_stop();
    if ((status >> 16) == PTRACE_EVENT_STOP) return;
    int sig = WSTOPSIG(status);
    if ((status >> 16) != 0 || sig == SIGTRAP || sig == SIGSEGV || sig == SIGBUS || sig == SIGILL)
      unexpected_stop("waiting for an interrupt stop", status);
    siginfo_t info{};
    if (ptrace(PTRACE_GETSIGINFO, thread_.tid(), nullptr, &info) == 0) thread_.defer_signal(info);
    thread_.resume(0);
  }
}

}  // namespace flakelab::compel
