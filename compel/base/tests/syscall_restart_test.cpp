#include "flakelab/base/syscall_restart.h"

#include <sys/syscall.h>

#include <cerrno>
#include <cstdint>

#include <gtest/gtest.h>

namespace flakelab::base {
namespace {

constexpr uint64_t kIp = 0x401002;  // just after a syscall instruction

user_regs_struct stopped_in(long nr, long code) {
  user_regs_struct r{};
  r.orig_rax = static_cast<uint64_t>(nr);
  r.rax = static_cast<uint64_t>(-code);
  r.rip = kIp;
  return r;
}

void expect_reissued(const user_regs_struct& r, long nr) {
  EXPECT_EQ(r.rax, static_cast<uint64_t>(nr));
  EXPECT_EQ(r.rip, kIp - 2);
  EXPECT_EQ(static_cast<long>(r.orig_rax), -1);
}

void expect_eintr(const user_regs_struct& r) {
  EXPECT_EQ(static_cast<long>(r.rax), -EINTR);
  EXPECT_EQ(r.rip, kIp);
  EXPECT_EQ(static_cast<long>(r.orig_rax), -1);
}

TEST(SyscallRestart, RecognisesEveryRestartCodeOnlyInsideASyscall) {
  for (long code : {kERESTARTSYS, kERESTARTNOINTR, kERESTARTNOHAND, kERESTART_RESTARTBLOCK})
    EXPECT_TRUE(interrupted_in_restartable_syscall(stopped_in(SYS_read, code))) << code;
  EXPECT_FALSE(interrupted_in_restartable_syscall(stopped_in(SYS_read, EINTR)));
  EXPECT_FALSE(interrupted_in_restartable_syscall(stopped_in(-1, kERESTARTSYS)));
}

TEST(SyscallRestart, PlainCodesReissueTheCallInBothContexts) {
  for (auto context : {ResumeContext::kCured, ResumeContext::kRestored})
    for (long code : {kERESTARTSYS, kERESTARTNOINTR, kERESTARTNOHAND})
      expect_reissued(registers_to_resume(stopped_in(SYS_read, code), context), SYS_read);
}

TEST(SyscallRestart, CuredTaskReissuesARestartBlockCall) {
  expect_reissued(registers_to_resume(stopped_in(SYS_poll, kERESTART_RESTARTBLOCK), ResumeContext::kCured),
                  SYS_poll);
  expect_reissued(registers_to_resume(stopped_in(SYS_nanosleep, kERESTART_RESTARTBLOCK), ResumeContext::kCured),
                  SYS_nanosleep);
}

TEST(SyscallRestart, RestoredTaskReissuesSleepsAndGetsEintrOtherwise) {
  for (long nr : {static_cast<long>(SYS_nanosleep), static_cast<long>(SYS_clock_nanosleep)})
    expect_reissued(registers_to_resume(stopped_in(nr, kERESTART_RESTARTBLOCK), ResumeContext::kRestored), nr);
  for (long nr : {static_cast<long>(SYS_poll), static_cast<long>(SYS_futex)})
    expect_eintr(registers_to_resume(stopped_in(nr, kERESTART_RESTARTBLOCK), ResumeContext::kRestored));
}

TEST(SyscallRestart, ATaskOutsideARestartLeavesRaxAndRipAlone) {
  user_regs_struct done = stopped_in(SYS_read, -5);  // returned 5
  for (auto context : {ResumeContext::kCured, ResumeContext::kRestored}) {
    user_regs_struct r = registers_to_resume(done, context);
    EXPECT_EQ(r.rax, done.rax);
    EXPECT_EQ(r.rip, kIp);
    EXPECT_EQ(static_cast<long>(r.orig_rax), -1);
  }
  user_regs_struct user_code = stopped_in(-1, kERESTARTSYS);  // rax happens to look like a code
  EXPECT_EQ(registers_to_resume(user_code, ResumeContext::kRestored).rax, user_code.rax);
}

}  // namespace
}  // namespace flakelab::base
