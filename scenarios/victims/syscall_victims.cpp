#include "flakelab/victims/syscall_victims.h"

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "flakelab/victims/victims.h"

namespace flakelab::victims {
namespace {

struct Results {
  int pipe[2];
  std::atomic<pid_t> sigsuspend_tid{0};
  std::atomic<int> usr2_handled{0};
  std::atomic<int> usr1_handled{0};
  std::atomic<uint32_t> futex_word{0};
  // Filled by each thread when its call returns.
  ssize_t read_result = -2;
  char read_bytes[8] = {};
  int sigsuspend_errno = 0;
  bool mask_restored = false;
  int nanosleep_result = -2;
  int64_t nanosleep_elapsed_ns = 0;
  int clock_nanosleep_result = -2;
  bool deadline_reached = false;
  long futex_result = -2;
  std::atomic<int> threads_up{0};
};
Results* g;

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

void* reader(void*) {
  g->threads_up++;
  g->read_result = read(g->pipe[0], g->read_bytes, sizeof(g->read_bytes));
  return nullptr;
}

void* suspender(void*) {
  g->sigsuspend_tid = static_cast<pid_t>(syscall(SYS_gettid));
  sigset_t only_usr2;
  sigfillset(&only_usr2);
  sigdelset(&only_usr2, SIGUSR2);
  g->threads_up++;
  int r = sigsuspend(&only_usr2);
  g->sigsuspend_errno = r == -1 ? errno : 0;
  sigset_t now;
  pthread_sigmask(SIG_SETMASK, nullptr, &now);
  g->mask_restored = sigismember(&now, SIGUSR2) == 1;
  return nullptr;
}

void* sleeper(void*) {
  timespec req{0, kSleepMs * 1000000L}, rem{};
  int64_t t0 = now_ns();
  g->threads_up++;
  g->nanosleep_result = nanosleep(&req, &rem);
  g->nanosleep_elapsed_ns = now_ns() - t0;
  return nullptr;
}

void* deadline_sleeper(void*) {
  int64_t deadline = now_ns() + int64_t{kSleepMs} * 1000000;
  timespec at{static_cast<time_t>(deadline / 1000000000), static_cast<long>(deadline % 1000000000)};
  g->threads_up++;
  g->clock_nanosleep_result = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr);
  g->deadline_reached = now_ns() >= deadline;
  return nullptr;
}

void* futex_waiter(void*) {
  g->threads_up++;
  long r;
  do {
    r = syscall(SYS_futex, &g->futex_word, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
  } while (r == -1 && errno == EAGAIN && g->futex_word.load() == 0);
  g->futex_result = g->futex_word.load() == 1 ? 0 : r;
  return nullptr;
}

[[noreturn]] void syscall_victim(int ready) {
  if (ready > 0) syscall(SYS_close_range, 0, ready - 1, 0);
  syscall(SYS_close_range, ready + 1, ~0u, 0);
  static Results results;
  g = &results;
  if (pipe(g->pipe) != 0) _exit(100);
  struct sigaction sa{};
  sa.sa_handler = [](int) { g->usr2_handled++; };
  sigaction(SIGUSR2, &sa, nullptr);
  sa.sa_handler = [](int) { g->usr1_handled++; };
  sigaction(SIGUSR1, &sa, nullptr);
  // SIGUSR1 and SIGUSR2 blocked everywhere except inside the sigsuspend calls.
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &block, nullptr);
  pthread_t t[5];
  void* (*bodies[5])(void*) = {reader, suspender, sleeper, deadline_sleeper, futex_waiter};
  for (int i = 0; i < 5; ++i)
    if (pthread_create(&t[i], nullptr, bodies[i], nullptr) != 0) _exit(101);
  while (g->threads_up.load() < 5) usleep(100);
  if (write(ready, "r", 1) != 1) _exit(102);
  close(ready);
  sigset_t only_usr1;
  sigfillset(&only_usr1);
  sigdelset(&only_usr1, SIGUSR1);
  int bad = 0;
  if (sigsuspend(&only_usr1) != -1 || errno != EINTR || g->usr1_handled.load() != 1) bad |= kSyscallBadMain;

  if (write(g->pipe[1], "restored", 8) != 8) bad |= kSyscallBadRead;
  syscall(SYS_tgkill, getpid(), g->sigsuspend_tid.load(), SIGUSR2);
  g->futex_word = 1;
  syscall(SYS_futex, &g->futex_word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  for (auto& th : t) pthread_join(th, nullptr);

  if (g->read_result != 8 || memcmp(g->read_bytes, "restored", 8) != 0) bad |= kSyscallBadRead;
  if (g->sigsuspend_errno != EINTR || g->usr2_handled.load() != 1) bad |= kSyscallBadSigsuspend;
  if (!g->mask_restored) bad |= kSyscallBadMask;
  if (g->nanosleep_result != 0 || g->nanosleep_elapsed_ns < int64_t{kSleepMs} * 1000000) bad |= kSyscallBadNanosleep;
  if (g->clock_nanosleep_result != 0 || !g->deadline_reached) bad |= kSyscallBadClockNanosleep;
  if (g->futex_result != 0) bad |= kSyscallBadFutex;
  _exit(bad);
}

}  // namespace

pid_t start_syscall_victim() {
  return start_victim("syscall victim", [](int ready) { syscall_victim(ready); }, true);
}

}  // namespace flakelab::victims
