// Threads frozen inside blocking syscalls by the dump resume them after restore as
// they would after a plain stop: read, sigsuspend (with its temporary mask),
// nanosleep and clock_nanosleep (no bogus EINTR), futex wait. The victim checks
// return values, data, masks and elapsed times itself.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include "flakelab/engine/dump.h"
#include "flakelab/engine/restore.h"
#include "flakelab/victims/syscall_victims.h"
#include "flakelab/victims/victims.h"

namespace flakelab::engine {
namespace {

using namespace flakelab::victims;

int verdict(pid_t pid) {
  if (!wait_all_sleeping(pid)) return -1;
  if (kill(pid, SIGUSR1) != 0) return -2;
  int status = wait_exit(pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + status;
}

TEST(SyscallRestart, UntouchedVictimChecksItself) {
  pid_t pid = start_syscall_victim();
  EXPECT_EQ(verdict(pid), kVictimOk);
}

TEST(SyscallRestart, EveryBlockedCallResumesAfterRestore) {
  pid_t pid = start_syscall_victim();
  Image image = dump_process(pid);
  // The relative nanosleep was stopped with ERESTART_RESTARTBLOCK (-516) pending:
  // the case that needs the kernel's restart block (an absolute clock_nanosleep
  // restarts with ERESTARTNOHAND).
  int restart_block = 0;
  for (const auto& t : image.root().process.threads())
    if (static_cast<int64_t>(t.gp().rax()) == -516) ++restart_block;
  EXPECT_EQ(restart_block, 1) << "the relative nanosleep";
  ASSERT_EQ(restore_process(image), pid);
  EXPECT_EQ(verdict(pid), kVictimOk) << "bits: see syscall_victims.h";
}

TEST(SyscallRestart, LeaveRunningDisturbsNothing) {
  pid_t pid = start_syscall_victim();
  dump_process(pid, DumpOptions{.leave_running = true});
  EXPECT_EQ(verdict(pid), kVictimOk);
}

}  // namespace
}  // namespace flakelab::engine
