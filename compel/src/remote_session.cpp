#include "flakelab/compel/remote_session.h"

#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>

#include "flakelab/base/syscall_restart.h"
#include "flakelab/compel/error.h"

namespace flakelab::compel {
namespace {


constexpr uint64_t kStubBytes = 0xcc050fULL;  // syscall (0f 05); int3 (cc)
constexpr uint64_t kStubMask = 0xffffffULL;
constexpr uint64_t kStubLength = 3;

std::string tid_text(pid_t tid) { return "tid " + std::to_string(tid); }

// PEEKTEXT/POKETEXT take the tracee address and the word as void* (the ptrace ABI).
void* text_address(RemoteAddr addr) { return reinterpret_cast<void*>(addr.as_int()); }
void* text_word(uint64_t word) { return reinterpret_cast<void*>(word); }

}  // namespace

RemoteSession::RemoteSession(SeizedThread& thread) : thread_(thread) {
  if (thread_.running())
    throw CompelError("remote session: " + tid_text(thread_.tid()) + " is not stopped", EBUSY);
  capture();
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
  stub_addr_ = RemoteAddr(orig_regs_.rip);
  regs_dirty_ = false;
}

bool RemoteSession::in_restartable_syscall() const {
  return base::interrupted_in_restartable_syscall(orig_regs_);
}

void RemoteSession::install_stub() {
  if (stub_installed_) return;
  errno = 0;
  long word = ptrace(PTRACE_PEEKTEXT, thread_.tid(), text_address(stub_addr_), nullptr);
  if (errno != 0) throw_errno("PTRACE_PEEKTEXT " + tid_text(thread_.tid()) + " at ip");
  saved_word_ = static_cast<uint64_t>(word);
  uint64_t patched = (saved_word_ & ~kStubMask) | kStubBytes;
  if (ptrace(PTRACE_POKETEXT, thread_.tid(), text_address(stub_addr_), text_word(patched)) != 0)
    throw_errno("PTRACE_POKETEXT " + tid_text(thread_.tid()) + " (syscall stub)");
  stub_installed_ = true;
}

void RemoteSession::remove_stub() {
  if (!stub_installed_) return;
  if (ptrace(PTRACE_POKETEXT, thread_.tid(), text_address(stub_addr_), text_word(saved_word_)) != 0)
    throw_errno("PTRACE_POKETEXT " + tid_text(thread_.tid()) + " (restoring code bytes)");
  stub_installed_ = false;
}

void RemoteSession::arm() {
  if (!mask_known_) {
    // A thread stopped in sigsuspend/ppoll/pselect has a temporary mask installed and
    // its real one saved in the kernel (TIF_RESTORE_SIGMASK). PTRACE_SETSIGMASK would
    // drop the saved one, so first let the thread pass the signal-return path once
    // (which puts the real mask back), then read and block it.
    if (in_restartable_syscall()) {
      install_stub();
      user_regs_struct regs = orig_regs_;
      regs.rax = SYS_getpid;
      run_stub(regs);
    }
    mask_known_ = true;
  }
  thread_.block_signals();
  install_stub();
}

long RemoteSession::run_stub(const user_regs_struct& call_regs) {
  user_regs_struct regs = call_regs;
  regs.rip = stub_addr_.as_int();
  return static_cast<long>(run_until(regs, stub_addr_ + (kStubLength - 1)).rax);
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
  thread_.resume();
  int stale_traps = 0;
  for (;;) {
    int status = thread_.wait_stop();
    int sig = WSTOPSIG(status);
    if ((status >> 16) == PTRACE_EVENT_STOP && ++stale_traps <= 4) {
      // A job-control trap still queued from seizing (a group-stopped task re-reports
      // its stop once after the first resume); our registers are in place, go on.
      thread_.resume();
      continue;
    }
    if ((status >> 16) == 0 && sig == SIGTRAP) {
      user_regs_struct after = thread_.get_regs();
      if (RemoteAddr(after.rip) == trap_at + 1) return after;
    }
    if ((status >> 16) == 0 && sig != SIGTRAP) {
      // A signal arrived before signals were blocked (only possible in the first
      // call of arm()). Keep it for the victim and go on.
      siginfo_t info{};
      if (ptrace(PTRACE_GETSIGINFO, thread_.tid(), nullptr, &info) == 0) thread_.defer_signal(info);
      thread_.resume(0);
      continue;
    }
    user_regs_struct now = thread_.get_regs();
    throw CompelError("remote code (rax " + std::to_string(call_regs.rax) + ") in " + tid_text(thread_.tid()) +
                          ": unexpected stop (signal " + std::to_string(sig) + ", event " +
                          std::to_string(status >> 16) + ") at ip 0x" + [&] {
                            char buf[32];
                            snprintf(buf, sizeof(buf), "%llx", now.rip);
                            return std::string(buf);
                          }(),
                      EIO);
  }
}

long RemoteSession::syscall(long nr, SyscallArg a1, SyscallArg a2, SyscallArg a3, SyscallArg a4, SyscallArg a5,
                            SyscallArg a6) {
  if (running_free_) throw CompelError("remote syscall: " + tid_text(thread_.tid()) + " is running injected code", EBUSY);
  arm();
  user_regs_struct regs = orig_regs_;
  regs.rax = static_cast<uint64_t>(nr);
  regs.rdi = a1.register_value();
  regs.rsi = a2.register_value();
  regs.rdx = a3.register_value();
  regs.r10 = a4.register_value();
  regs.r8 = a5.register_value();
  regs.r9 = a6.register_value();
  return run_stub(regs);
}

long RemoteSession::syscall_checked(std::string_view what, long nr, SyscallArg a1, SyscallArg a2, SyscallArg a3,
                                    SyscallArg a4, SyscallArg a5, SyscallArg a6) {
  long r = syscall(nr, a1, a2, a3, a4, a5, a6);
  if (r < 0 && r > -4096)
    throw_errno("remote " + std::string(what) + " in " + tid_text(thread_.tid()), static_cast<int>(-r));
  return r;
}

void RemoteSession::run_free(RemoteAddr rip, RemoteAddr rsp, RemoteAddr rdi) {
  if (!mask_known_) arm();
  thread_.block_signals();
  // The injected code may return to the victim on its own (rt_sigreturn): the
  // victim's code must be pristine by then.
  remove_stub();
  user_regs_struct regs = orig_regs_;
  regs.orig_rax = static_cast<uint64_t>(-1);
  regs.rip = rip.as_int();
  regs.rsp = rsp.as_int();
  regs.rdi = rdi.as_int();
  regs.rax = 0;
  thread_.set_regs(regs);
  regs_dirty_ = true;
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

void RemoteSession::rebase() {
  running_free_ = false;
  thread_.forget_blocked_signals();
  stub_installed_ = false;  // our stub was removed before run_free()
  mask_known_ = false;
  capture();
}

void RemoteSession::settle() {
  if (running_free_) interrupt_running();
  remove_stub();
  if (regs_dirty_) {
    thread_.set_regs(orig_regs_);
    thread_.set_xstate(orig_xstate_);
    regs_dirty_ = false;
  }
  thread_.restore_signal_mask();
}

}  // namespace flakelab::compel
