#include "flakelab/base/syscall_restart.h"

#include <sys/syscall.h>

#include <cerrno>
#include <cstdint>

namespace flakelab::base {
namespace {

constexpr uint64_t kSyscallInsnLength = 2;  // 0f 05

bool is_sleep(long nr) { return nr == SYS_nanosleep || nr == SYS_clock_nanosleep; }

}  // namespace

bool interrupted_in_restartable_syscall(const user_regs_struct& regs) {
  long rax = static_cast<long>(regs.rax);
  return static_cast<long>(regs.orig_rax) >= 0 && rax <= -kERESTARTSYS && rax >= -kERESTART_RESTARTBLOCK;
}

user_regs_struct registers_to_resume(user_regs_struct regs, ResumeContext context) {
  long nr = static_cast<long>(regs.orig_rax);
  long code = -static_cast<long>(regs.rax);
  if (nr >= 0) {
    bool plain = code == kERESTARTSYS || code == kERESTARTNOINTR || code == kERESTARTNOHAND;
    bool block = code == kERESTART_RESTARTBLOCK;
    bool reissue = plain || (block && (context == ResumeContext::kCured || is_sleep(nr)));
    if (reissue) {
      regs.rax = regs.orig_rax;
      regs.rip -= kSyscallInsnLength;
    } else if (block) {
      regs.rax = static_cast<uint64_t>(-EINTR);
    }
  }
  regs.orig_rax = static_cast<uint64_t>(-1);
  return regs;
}

}  // namespace flakelab::base
