#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <map>
#include <thread>

#include "flakelab/compel/error.h"
#include "flakelab/compel/parasite.h"
#include "flakelab/compel/proc.h"
#include "flakelab/compel/seized_process.h"
#include "echo_victim.h"

using namespace flakelab::compel;
using namespace flakelab::compel::testing;

namespace {

void on_usr2(int, siginfo_t*, void*) {}
constexpr size_t kAltStackSize = 64 * 1024;
alignas(16) char g_altstack[kAltStackSize];
constexpr const char* kTmpFile = "/tmp/flakelab-compel-parasite-test";

void set_up_victim_state() {
  struct sigaction sa {};
  sa.sa_sigaction = on_usr2;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGINT);
  sigaction(SIGUSR2, &sa, nullptr);
  signal(SIGHUP, SIG_IGN);
  stack_t ss{};
  ss.ss_sp = g_altstack;
  ss.ss_size = kAltStackSize;
  sigaltstack(&ss, nullptr);
  itimerval it{{7, 0}, {30, 0}};
  setitimer(ITIMER_REAL, &it, nullptr);
  int fd = open(kTmpFile, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (write(fd, "0123456789", 10) != 10) _exit(7);
  lseek(fd, 3, SEEK_SET);
}

EchoVictim start_victim() {
  EchoVictim v = EchoVictim::start(set_up_victim_state);
  EXPECT_EQ(v.echo(1), kRegsIntact | kMemoryIntact);
  EXPECT_TRUE(wait_until_sleeping(v.child.pid()));
  return v;
}

}  // namespace

TEST(Parasite, ReportsSigactionsSigaltstackItimers) {
  EchoVictim v = start_victim();
  {
    SeizedProcess p(v.child.pid());
    Parasite parasite(p, default_parasite_blob());
    auto acts = parasite.get_sigactions();
    ASSERT_EQ(acts.size(), 64u);
    const Sigaction& usr2 = acts[SIGUSR2 - 1];
    EXPECT_EQ(usr2.handler, reinterpret_cast<uint64_t>(&on_usr2));
    EXPECT_TRUE(usr2.flags & SA_SIGINFO);
    EXPECT_TRUE(usr2.flags & SA_RESTART);
    EXPECT_EQ(usr2.mask, 1ULL << (SIGINT - 1));
    EXPECT_EQ(acts[SIGHUP - 1].handler, reinterpret_cast<uint64_t>(SIG_IGN));
    EXPECT_EQ(acts[SIGTERM - 1].handler, reinterpret_cast<uint64_t>(SIG_DFL));

    flk_stack ss = parasite.get_sigaltstack();
    EXPECT_EQ(ss.ss_sp, reinterpret_cast<uint64_t>(g_altstack));
    EXPECT_EQ(ss.ss_size, kAltStackSize);

    auto timers = parasite.get_itimers();
    EXPECT_EQ(timers[0].interval.tv_sec, 7);
    EXPECT_GT(timers[0].value.tv_sec, 25);
    EXPECT_EQ(timers[1].value.tv_sec, 0);
    EXPECT_FALSE(parasite.guard_zone_damage().has_value());
    parasite.cure();
  }
  EXPECT_EQ(v.echo(2), kRegsIntact | kMemoryIntact);
}

TEST(Parasite, SendsEveryFdThatMatchesProcFdinfo) {
  EchoVictim v = start_victim();
  pid_t pid = v.child.pid();
  struct stat tmp_file {};
  ASSERT_EQ(stat(kTmpFile, &tmp_file), 0);
  {
    SeizedProcess p(pid);
    Parasite parasite(p, default_parasite_blob());
    auto fds = parasite.receive_fds();
    std::vector<int> expected = proc::list_fds(pid);
    ASSERT_EQ(fds.size() + 1, expected.size()) << "all fds but the parasite socket";
    bool saw_file = false;
    for (auto& r : fds) {
      struct stat mine {}, theirs {};
      ASSERT_EQ(fstat(r.fd.get(), &mine), 0);
      std::string link = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(r.victim_fd);
      ASSERT_EQ(stat(link.c_str(), &theirs), 0) << link;
      EXPECT_EQ(mine.st_ino, theirs.st_ino) << "fd " << r.victim_fd;
      EXPECT_EQ(mine.st_dev, theirs.st_dev);
      std::string info = proc::read_file("/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(r.victim_fd));
      long pos = std::stol(info.substr(info.find("pos:") + 4));
      EXPECT_EQ(lseek(r.fd.get(), 0, SEEK_CUR), S_ISFIFO(mine.st_mode) ? -1 : pos);
      if (S_ISREG(mine.st_mode) && mine.st_ino == tmp_file.st_ino && mine.st_dev == tmp_file.st_dev) {
        // The file the victim opened and seeked (others may be inherited from the runner).
        saw_file = true;
        EXPECT_EQ(pos, 3);
        char buf[3];
        ASSERT_EQ(read(r.fd.get(), buf, 3), 3);  // shares the victim's offset
        EXPECT_EQ(std::string(buf, 3), "345");
      }
    }
    EXPECT_TRUE(saw_file);
    parasite.cure();
  }
  EXPECT_EQ(v.echo(2), kRegsIntact | kMemoryIntact);
  unlink(kTmpFile);
}

TEST(Parasite, UnknownUserCommandFailsCleanly) {
  EchoVictim v = start_victim();
  {
    SeizedProcess p(v.child.pid());
    Parasite parasite(p, default_parasite_blob());
    try {
      parasite.user_command(FLK_CMD_USER + 1);
      ADD_FAILURE() << "no error for an unknown command";
    } catch (const CompelError& e) {
      EXPECT_EQ(e.error_number(), ENOSYS) << e.what();
    }
    EXPECT_EQ(parasite.get_sigaltstack().ss_size, kAltStackSize);  // still serving
  }
  EXPECT_EQ(v.echo(2), kRegsIntact | kMemoryIntact);
}

TEST(Parasite, ShortMessageIsReportedAsTrimmedAndVictimSurvives) {
  EchoVictim v = start_victim();
  {
    SeizedProcess p(v.child.pid());
    Parasite parasite(p, default_parasite_blob());
    uint64_t half = 42;
    parasite.send_raw_for_testing(&half, sizeof(half));
    for (int i = 0; i < 2000 && parasite.parasite_status() != FLK_STATUS_TRIMMED; ++i) usleep(500);
    EXPECT_EQ(parasite.parasite_status(), FLK_STATUS_TRIMMED);
    EXPECT_NE(parasite.parasite_log().find("Trimmed message received (16/8)"), std::string::npos)
        << parasite.parasite_log();
    try {
      parasite.cure();
      ADD_FAILURE() << "cure did not report the trimmed message";
    } catch (const CompelError& e) {
      EXPECT_NE(std::string(e.what()).find("Trimmed message received (16/8)"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(v.echo(2), kRegsIntact | kMemoryIntact);
  // The parasite is gone from the victim.
  std::string maps = proc::read_file("/proc/" + std::to_string(v.child.pid()) + "/maps");
  EXPECT_EQ(maps.find("flakelab-parasite"), std::string::npos) << maps;
}

TEST(Parasite, InfectsMultiThreadedVictimAndLeavesNoTrace) {
  EchoVictim v = EchoVictim::start([] {
    stack_t ss{};
    ss.ss_sp = g_altstack;
    ss.ss_size = kAltStackSize;
    sigaltstack(&ss, nullptr);
    for (int i = 0; i < 4; ++i) std::thread([] { for (;;) pause(); }).detach();
  });
  ASSERT_EQ(v.echo(1), kRegsIntact | kMemoryIntact);
  pid_t pid = v.child.pid();
  std::string maps_before = proc::read_file("/proc/" + std::to_string(pid) + "/maps");
  std::vector<int> fds_before = proc::list_fds(pid);
  for (int round = 0; round < 50; ++round) {
    ASSERT_TRUE(wait_until_sleeping(pid));
    {
      SeizedProcess p(pid);
      ASSERT_EQ(p.threads().size(), 5u);
      Parasite parasite(p, default_parasite_blob());
      EXPECT_EQ(parasite.get_sigaltstack().ss_sp, reinterpret_cast<uint64_t>(g_altstack)) << "main thread's altstack";
      parasite.cure();
      EXPECT_FALSE(parasite.guard_zone_damage().has_value());
    }
    ASSERT_EQ(v.echo(static_cast<uint32_t>(round + 2)), kRegsIntact | kMemoryIntact) << "round " << round;
  }
  EXPECT_EQ(maps_before, proc::read_file("/proc/" + std::to_string(pid) + "/maps"));
  EXPECT_EQ(fds_before, proc::list_fds(pid));
}

TEST(Parasite, MapsAtRequestedAddressOrRefusesToClobber) {
  EchoVictim v = start_victim();
  constexpr uint64_t kAddr = 0x200000000000ULL;
  {
    SeizedProcess p(v.child.pid());
    InfectOptions opt;
    opt.address = RemoteAddr(kAddr);
    {
      Parasite parasite(p, default_parasite_blob(), opt);
      EXPECT_EQ(parasite.layout().base, RemoteAddr(kAddr));
      std::string maps = proc::read_file("/proc/" + std::to_string(v.child.pid()) + "/maps");
      EXPECT_NE(maps.find("200000000000-"), std::string::npos) << maps;
      parasite.cure();
    }
    // Something of the victim's own already lives there: refuse, never clobber.
    {
      RemoteSession rs(p.leader());
      ASSERT_EQ(static_cast<uint64_t>(rs.syscall(SYS_mmap, static_cast<long>(kAddr), 4096, PROT_READ,
                                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)),
                kAddr);
    }
    try {
      Parasite parasite(p, default_parasite_blob(), opt);
      ADD_FAILURE() << "infection clobbered an existing mapping";
    } catch (const CompelError& e) {
      EXPECT_NE(std::string(e.what()).find("File exists"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(v.echo(2), kRegsIntact | kMemoryIntact);
}

TEST(Parasite, EndsAtRequestedAddressAndAbandonLeavesVictimIntact) {
  EchoVictim v = start_victim();
  constexpr uint64_t kEnd = 0x300000000000ULL;
  const std::vector<int> fds_before = proc::list_fds(v.child.pid());
  {
    SeizedProcess p(v.child.pid());
    InfectOptions opt;
    opt.end_address = RemoteAddr(kEnd);
    Parasite parasite(p, default_parasite_blob(), opt);
    EXPECT_EQ(parasite.layout().end(), RemoteAddr(kEnd));
    parasite.get_itimers();
    std::string log = parasite.abandon();
    EXPECT_NE(log.find("Trimmed message received (16/0)"), std::string::npos) << log;
    EXPECT_FALSE(parasite.infected());
  }
  EXPECT_EQ(v.echo(2), kRegsIntact | kMemoryIntact);
  std::string maps = proc::read_file("/proc/" + std::to_string(v.child.pid()) + "/maps");
  EXPECT_EQ(maps.find("flakelab-parasite"), std::string::npos) << maps;
  EXPECT_EQ(proc::list_fds(v.child.pid()), fds_before) << "the parasite's socket was left behind";
}
