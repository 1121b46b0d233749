// A thread stopped inside a blocking syscall must, after compel is done with it,
// continue that syscall as if nothing happened: read still reads, nanosleep sleeps
// its full time and returns 0, a futex wait still waits, and sigsuspend still waits
// with its temporary mask and then returns with the original mask back.
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <poll.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "flakelab/compel/parasite.h"
#include "flakelab/compel/remote_session.h"
#include "flakelab/compel/seized_process.h"
#include "echo_victim.h"

using namespace flakelab::compel;
using namespace flakelab::compel::testing;

namespace {

enum class Blocker { kRead, kNanosleep, kFutex, kSigsuspend };
enum class Intrusion { kRemoteSyscalls, kParasite };

struct Report {
  long ret;
  int err;
  long elapsed_ms;
  int handler_ran;
  int mask_restored;
  char data[8];
};

volatile sig_atomic_t g_handler_ran = 0;
void on_usr1(int) { g_handler_ran = 1; }

long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

class SyscallRestart : public ::testing::TestWithParam<std::tuple<Blocker, Intrusion>> {};

TEST_P(SyscallRestart, BlockedSyscallContinuesAfterRelease) {
  auto [blocker, intrusion] = GetParam();
  int report_pipe[2], data_pipe[2];
  ASSERT_EQ(pipe(report_pipe), 0);
  ASSERT_EQ(pipe(data_pipe), 0);
  auto* futex_word = static_cast<std::atomic<int>*>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  futex_word->store(0);
  constexpr long kSleepMs = 400;

  Child victim([&] {
    Report r{};
    struct sigaction sa {};
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, nullptr);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, nullptr);
    long t0 = now_ms();
    switch (blocker) {
      case Blocker::kRead:
        r.ret = read(data_pipe[0], r.data, 5);
        break;
      case Blocker::kNanosleep: {
        timespec ts{0, kSleepMs * 1000000};
        r.ret = nanosleep(&ts, nullptr);
        break;
      }
      case Blocker::kFutex:
        r.ret = syscall(SYS_futex, futex_word, FUTEX_WAIT, 0, nullptr, nullptr, 0);
        break;
      case Blocker::kSigsuspend: {
        sigset_t empty;
        sigemptyset(&empty);
        r.ret = sigsuspend(&empty);
        sigset_t now;
        sigprocmask(SIG_BLOCK, nullptr, &now);
        r.mask_restored = sigismember(&now, SIGUSR1);
        break;
      }
    }
    r.err = r.ret < 0 ? errno : 0;
    r.elapsed_ms = now_ms() - t0;
    r.handler_ran = g_handler_ran;
    if (write(report_pipe[1], &r, sizeof(r)) != sizeof(r)) _exit(5);
  });
  ASSERT_TRUE(wait_until_sleeping(victim.pid()));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    SeizedProcess p(victim.pid());
    if (intrusion == Intrusion::kRemoteSyscalls) {
      RemoteSession rs(p.leader());
      EXPECT_TRUE(rs.in_restartable_syscall());
      for (int i = 0; i < 3; ++i) EXPECT_EQ(rs.syscall(SYS_getpid), victim.pid());
    } else {
      Parasite parasite(p, default_parasite_blob());
      EXPECT_EQ(parasite.get_sigactions().at(SIGUSR1 - 1).handler, reinterpret_cast<uint64_t>(&on_usr1));
      parasite.cure();
    }
  }
  // Still blocked after release?
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  pollfd pfd{report_pipe[0], POLLIN, 0};
  if (blocker != Blocker::kNanosleep) {
    EXPECT_EQ(poll(&pfd, 1, 0), 0) << "the syscall returned early";
  }
  switch (blocker) {
    case Blocker::kRead:
      ASSERT_EQ(write(data_pipe[1], "hello", 5), 5);
      break;
    case Blocker::kFutex:
      futex_word->store(1);
      syscall(SYS_futex, futex_word, FUTEX_WAKE, 1, nullptr, nullptr, 0);
      break;
    case Blocker::kSigsuspend:
      kill(victim.pid(), SIGUSR1);
      break;
    case Blocker::kNanosleep:
      break;
  }
  Report r{};
  ASSERT_EQ(poll(&pfd, 1, 5000), 1) << "victim never finished its syscall";
  ASSERT_EQ(read(report_pipe[0], &r, sizeof(r)), static_cast<ssize_t>(sizeof(r)));
  switch (blocker) {
    case Blocker::kRead:
      EXPECT_EQ(r.ret, 5);
      EXPECT_EQ(std::string(r.data, 5), "hello");
      break;
    case Blocker::kNanosleep:
      EXPECT_EQ(r.ret, 0) << "nanosleep failed: " << strerror(r.err);
      EXPECT_GE(r.elapsed_ms, kSleepMs);
      break;
    case Blocker::kFutex:
      EXPECT_EQ(r.ret, 0) << strerror(r.err);
      break;
    case Blocker::kSigsuspend:
      EXPECT_EQ(r.ret, -1);
      EXPECT_EQ(r.err, EINTR);
      EXPECT_EQ(r.handler_ran, 1);
      EXPECT_EQ(r.mask_restored, 1) << "sigsuspend returned with its temporary mask";
      break;
  }
  munmap(futex_word, 4096);
  for (int fd : {report_pipe[0], report_pipe[1], data_pipe[0], data_pipe[1]}) close(fd);
}

std::string name_of(const ::testing::TestParamInfo<std::tuple<Blocker, Intrusion>>& info) {
  static const char* blockers[] = {"Read", "Nanosleep", "FutexWait", "Sigsuspend"};
  static const char* intrusions[] = {"RemoteSyscalls", "Parasite"};
  return std::string(blockers[static_cast<int>(std::get<0>(info.param))]) + "_" +
         intrusions[static_cast<int>(std::get<1>(info.param))];
}

INSTANTIATE_TEST_SUITE_P(All, SyscallRestart,
                         ::testing::Combine(::testing::Values(Blocker::kRead, Blocker::kNanosleep, Blocker::kFutex,
                                                              Blocker::kSigsuspend),
                                            ::testing::Values(Intrusion::kRemoteSyscalls, Intrusion::kParasite)),
                         name_of);

}  // namespace
