#include "flakelab/compel/seized_thread.h"

#include <elf.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "flakelab/compel/error.h"

namespace flakelab::compel {
namespace {

std::string tid_text(pid_t tid) { return " tid " + std::to_string(tid); }

bool is_stop_signal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

}  // namespace

SeizedThread::SeizedThread(pid_t tgid, pid_t tid) : tgid_(tgid), tid_(tid) {
  // Seccomp suspended while we hold it, so that a filter or strict mode neither blocks
  // nor kills our remote syscalls (needs CAP_SYS_ADMIN; the engine refuses seccomp'd
  // tasks without it, and the plain seize still works for the rest).
  if (ptrace(PTRACE_SEIZE, tid, nullptr, reinterpret_cast<void*>(PTRACE_O_TRACESYSGOOD | PTRACE_O_SUSPEND_SECCOMP)) != 0 &&
      ptrace(PTRACE_SEIZE, tid, nullptr, reinterpret_cast<void*>(PTRACE_O_TRACESYSGOOD)) != 0)
    throw_errno("PTRACE_SEIZE" + tid_text(tid));
  attached_ = true;
  if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) {
    int err = errno;
    ptrace(PTRACE_DETACH, tid, nullptr, nullptr);
    attached_ = false;
    throw_errno("PTRACE_INTERRUPT" + tid_text(tid), err);
  }
}

SeizedThread::~SeizedThread() { release(); }

namespace {

// The next waitpid() status of tracee `tid` (a thread: __WALL), retried on EINTR.
int next_status(pid_t tid) {
  int status = 0;
  while (waitpid(tid, &status, __WALL) < 0)
    if (errno != EINTR) throw_errno("waitpid" + tid_text(tid));
  return status;
}

}  // namespace

bool SeizedThread::wait_initial_stop() {
  for (;;) {
    int status = next_status(tid_);
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      attached_ = false;
      return false;
    }
    if (!WIFSTOPPED(status)) continue;
    running_ = false;
    int sig = WSTOPSIG(status);
    int event = status >> 16;
    if (event == PTRACE_EVENT_STOP) {
      group_stopped_ = is_stop_signal(sig);
      return true;
    }
    // A signal-delivery-stop for a signal that was already pending: let it be
    // delivered as it would have been; our PTRACE_INTERRUPT stays pending and
    // stops the thread right after.
    resume(sig);
  }
}

user_regs_struct SeizedThread::get_regs() const {
  user_regs_struct regs{};
  if (ptrace(PTRACE_GETREGS, tid_, nullptr, &regs) != 0) throw_errno("PTRACE_GETREGS" + tid_text(tid_));
  return regs;
}

void SeizedThread::set_regs(const user_regs_struct& regs) {
  if (ptrace(PTRACE_SETREGS, tid_, nullptr, &regs) != 0) throw_errno("PTRACE_SETREGS" + tid_text(tid_));
}

std::vector<uint8_t> SeizedThread::get_xstate() const {
  // Large enough for any XSAVE layout the kernel exposes; it trims iov_len.
  std::vector<uint8_t> buf(64 * 1024);
  iovec iov{buf.data(), buf.size()};
  if (ptrace(PTRACE_GETREGSET, tid_, reinterpret_cast<void*>(NT_X86_XSTATE), &iov) != 0)
    throw_errno("PTRACE_GETREGSET NT_X86_XSTATE" + tid_text(tid_));
  buf.resize(iov.iov_len);
  return buf;
}

void SeizedThread::set_xstate(const std::vector<uint8_t>& xstate) {
  std::vector<uint8_t> copy = xstate;  // the kernel wants a writable iovec
  iovec iov{copy.data(), copy.size()};
  if (ptrace(PTRACE_SETREGSET, tid_, reinterpret_cast<void*>(NT_X86_XSTATE), &iov) != 0)
    throw_errno("PTRACE_SETREGSET NT_X86_XSTATE" + tid_text(tid_));
}

uint64_t SeizedThread::get_sigmask() const {
  uint64_t mask = 0;
  if (ptrace(PTRACE_GETSIGMASK, tid_, reinterpret_cast<void*>(sizeof(mask)), &mask) != 0)
    throw_errno("PTRACE_GETSIGMASK" + tid_text(tid_));
  return mask;
}

void SeizedThread::set_sigmask(uint64_t mask) {
  if (ptrace(PTRACE_SETSIGMASK, tid_, reinterpret_cast<void*>(sizeof(mask)), &mask) != 0)
    throw_errno("PTRACE_SETSIGMASK" + tid_text(tid_));
}

void SeizedThread::resume(int sig) {
  if (ptrace(PTRACE_CONT, tid_, nullptr, reinterpret_cast<void*>(static_cast<long>(sig))) != 0)
    throw_errno("PTRACE_CONT" + tid_text(tid_));
  running_ = true;
}

void SeizedThread::resume_syscall(int sig) {
  if (ptrace(PTRACE_SYSCALL, tid_, nullptr, reinterpret_cast<void*>(static_cast<long>(sig))) != 0)
    throw_errno("PTRACE_SYSCALL" + tid_text(tid_));
  running_ = true;
}

void SeizedThread::interrupt() {
  if (ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr) != 0)
    throw_errno("PTRACE_INTERRUPT" + tid_text(tid_));
}

int SeizedThread::wait_stop() {
  for (;;) {
    int status = next_status(tid_);
    if (WIFEXITED(status)) {
      attached_ = false;
      throw CompelError("thread" + tid_text(tid_) + " exited with status " +
                        std::to_string(WEXITSTATUS(status)) + " while compel controlled it");
    }
    if (WIFSIGNALED(status)) {
      attached_ = false;
      throw CompelError("thread" + tid_text(tid_) + " was killed by signal " +
                        std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) +
                        ") while compel controlled it");
    }
    if (WIFSTOPPED(status)) {
      running_ = false;
      return status;
    }
  }
}

void SeizedThread::block_signals() {
  if (signals_blocked_) return;
  original_mask_ = get_sigmask();
  set_sigmask(~uint64_t{0});  // the kernel never blocks SIGKILL/SIGSTOP anyway
  signals_blocked_ = true;
}

void SeizedThread::restore_signal_mask() {
  if (!signals_blocked_) return;
  set_sigmask(original_mask_);
  signals_blocked_ = false;
}

void SeizedThread::release() noexcept {
  if (!attached_) return;
  try {
    if (running_) {
      interrupt();
      wait_stop();
    }
    restore_signal_mask();
  } catch (const CompelError&) {
    // The thread may be gone; detaching below tells us nothing more useful.
  }
  ptrace(PTRACE_DETACH, tid_, nullptr, nullptr);
  attached_ = false;
  // Signals dequeued while compel drove the thread go back to it, with their
  // siginfo when the kernel lets us forge it (si_code < 0), else as a tgkill.
  for (const siginfo_t& info : deferred_) {
    siginfo_t copy = info;
    long r = -1;
    if (copy.si_code < 0) r = syscall(SYS_rt_tgsigqueueinfo, tgid_, tid_, copy.si_signo, &copy);
    if (r != 0) syscall(SYS_tgkill, tgid_, tid_, copy.si_signo);
  }
  deferred_.clear();
}

}  // namespace flakelab::compel
