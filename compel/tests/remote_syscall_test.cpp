#include <fcntl.h>
#include <signal.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "flakelab/compel/error.h"
#include "flakelab/compel/proc.h"
#include "flakelab/compel/remote_session.h"
#include "flakelab/compel/seized_process.h"
#include "echo_victim.h"

using namespace flakelab::compel;
using namespace flakelab::compel::testing;

namespace {

bool mapped_at(pid_t pid, uint64_t addr) {
  std::istringstream maps(proc::read_file("/proc/" + std::to_string(pid) + "/maps"));
  std::string line;
  while (std::getline(maps, line)) {
    uint64_t lo = std::stoull(line.substr(0, line.find('-')), nullptr, 16);
    if (lo == addr) return true;
  }
  return false;
}

std::string fd_target(pid_t pid, int fd) {
  char buf[4096];
  std::string link = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  ssize_t n = readlink(link.c_str(), buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

bool fd_open(pid_t pid, int fd) { return access(("/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd)).c_str(), F_OK) == 0; }

}  // namespace

TEST(RemoteSyscall, GetpidMmapMunmapCloseMatchProc) {
  EchoVictim v = EchoVictim::start([] { open("/dev/null", O_RDONLY); });
  ASSERT_EQ(v.echo(1), kRegsIntact | kMemoryIntact);
  ASSERT_TRUE(wait_until_sleeping(v.child.pid()));
  int devnull_fd = -1;
  for (int fd : proc::list_fds(v.child.pid()))
    if (fd_target(v.child.pid(), fd) == "/dev/null") devnull_fd = fd;
  ASSERT_GE(devnull_fd, 0);
  {
    SeizedProcess p(v.child.pid());
    RemoteSession rs(p.leader());
    EXPECT_EQ(rs.syscall(SYS_getpid), v.child.pid());
    long addr = rs.syscall_checked("mmap", SYS_mmap, 0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_TRUE(mapped_at(v.child.pid(), static_cast<uint64_t>(addr)));
    EXPECT_EQ(rs.syscall(SYS_munmap, addr, 3 * 4096), 0);
    EXPECT_FALSE(mapped_at(v.child.pid(), static_cast<uint64_t>(addr)));
    EXPECT_TRUE(fd_open(v.child.pid(), devnull_fd));
    EXPECT_EQ(rs.syscall(SYS_close, devnull_fd), 0);
    EXPECT_FALSE(fd_open(v.child.pid(), devnull_fd));
    EXPECT_EQ(rs.syscall(SYS_close, devnull_fd), -EBADF);
    try {
      rs.syscall_checked("close", SYS_close, devnull_fd);
      ADD_FAILURE() << "closing a closed fd did not throw";
    } catch (const CompelError& e) {
      EXPECT_NE(std::string(e.what()).find("Bad file descriptor"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(std::to_string(v.child.pid())), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(v.echo(2), kRegsIntact | kMemoryIntact);
}

TEST(RemoteSyscall, RestoresRegistersXstateCodeAndMask) {
  EchoVictim v = EchoVictim::start();
  ASSERT_EQ(v.echo(1), kRegsIntact | kMemoryIntact);
  ASSERT_TRUE(wait_until_sleeping(v.child.pid()));
  SeizedProcess p(v.child.pid());
  SeizedThread& t = p.leader();
  user_regs_struct before = t.get_regs();
  std::vector<uint8_t> xbefore = t.get_xstate();
  uint64_t mask_before = t.get_sigmask();
  errno = 0;
  long code_before = ptrace(PTRACE_PEEKTEXT, t.tid(), reinterpret_cast<void*>(before.rip), nullptr);
  {
    RemoteSession rs(t);
    for (int i = 0; i < 10; ++i) ASSERT_EQ(rs.syscall(SYS_getppid), getpid());
    // The kernel never blocks SIGKILL/SIGSTOP (no int3 runs, so SIGTRAP stays
    // blocked); the original mask comes back when the session settles.
    const uint64_t unblockable = (1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1));
    EXPECT_EQ(t.get_sigmask(), ~unblockable) << "signals not blocked while running remote code";
  }
  user_regs_struct after = t.get_regs();
  EXPECT_EQ(0, memcmp(&before, &after, sizeof(before)));
  EXPECT_EQ(xbefore, t.get_xstate());
  EXPECT_EQ(mask_before, t.get_sigmask());
  EXPECT_EQ(code_before, ptrace(PTRACE_PEEKTEXT, t.tid(), reinterpret_cast<void*>(before.rip), nullptr));
  p.release();
  EXPECT_EQ(v.echo(3), kRegsIntact | kMemoryIntact);
}
