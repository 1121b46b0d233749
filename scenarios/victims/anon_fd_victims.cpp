#include "flakelab/victims/anon_fd_victims.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "flakelab/victims/victims.h"

namespace flakelab::victims {
namespace {

volatile sig_atomic_t g_wake = 0;
void on_usr1(int) { g_wake = 1; }

constexpr uint64_t kWakeData = 0x77aa;
constexpr int64_t kFastNs = 20'000'000;  // period of the 20 ms timer

using Event = std::pair<uint32_t, uint64_t>;  // (events, data)

// epoll_wait(ep, 0 timeout) reports exactly `want`, in any order.
bool reports_exactly(int ep, std::vector<Event> want) {
  epoll_event evs[16];
  int n = epoll_wait(ep, evs, 16, 0);
  if (n < 0) return false;
  std::vector<Event> got;
  for (int i = 0; i < n; ++i) got.emplace_back(uint32_t{evs[i].events}, uint64_t{evs[i].data.u64});
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  return got == want;
}

std::string fdinfo(int fd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The value after "key:" in fdinfo, without surrounding blanks.
std::string fdinfo_field(int fd, const std::string& key) {
  std::istringstream in(fdinfo(fd));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) {
      size_t b = line.find_first_not_of(" \t", key.size() + 1);
      return b == std::string::npos ? "" : line.substr(b);
    }
  return "";
}

// An epoll's watches (tfd, events, data), sorted. EPOLLERR|EPOLLHUP are left
// out: epoll_ctl() always adds them, so a disarmed EPOLLONESHOT watch (which
// the kernel strips to its flag bits) cannot be re-added without them.
std::vector<std::tuple<int, uint32_t, uint64_t>> watch_list(int ep) {
  std::vector<std::tuple<int, uint32_t, uint64_t>> out;
  std::istringstream in(fdinfo(ep));
  std::string line;
  while (std::getline(in, line)) {
    int tfd;
    unsigned events;
    unsigned long long data;
    if (std::sscanf(line.c_str(), "tfd: %d events: %x data: %llx", &tfd, &events, &data) == 3)
      out.emplace_back(tfd, events & ~static_cast<unsigned>(EPOLLERR | EPOLLHUP), data);
  }
  std::sort(out.begin(), out.end());
  return out;
}

int64_t now_ns(clockid_t clock = CLOCK_MONOTONIC) {
  timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

int64_t ns(const timespec& ts) { return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec; }

bool add_watch(int ep, int fd, uint32_t events, uint64_t data) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = data;
  return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool arm(int t, clockid_t, int flags, int64_t value_ns, int64_t interval_ns) {
  itimerspec its{};
  its.it_value = {static_cast<time_t>(value_ns / 1'000'000'000), static_cast<long>(value_ns % 1'000'000'000)};
  its.it_interval = {static_cast<time_t>(interval_ns / 1'000'000'000), static_cast<long>(interval_ns % 1'000'000'000)};
  return timerfd_settime(t, flags, &its, nullptr) == 0;
}

bool cloexec(int fd) { return fcntl(fd, F_GETFD) & FD_CLOEXEC; }
bool nonblock(int fd) { return fcntl(fd, F_GETFL) & O_NONBLOCK; }

// 0 if nothing arrives within 2 s: a lost counter must be reported, not block.
uint64_t read_u64(int fd) {
  pollfd p{fd, POLLIN, 0};
  uint64_t v = 0;
  if (poll(&p, 1, 2000) != 1) return 0;
  return ::read(fd, &v, sizeof(v)) == sizeof(v) ? v : 0;
}
bool write_u64(int fd, uint64_t v) { return ::write(fd, &v, sizeof(v)) == sizeof(v); }
// Empty and O_NONBLOCK (checked first: a blocking read would hang the victim).
bool drained(int fd) {
  uint64_t v;
  return (fcntl(fd, F_GETFL) & O_NONBLOCK) && ::read(fd, &v, sizeof(v)) == -1 && errno == EAGAIN;
}

// The thread blocked in epoll_wait: a dump interrupts it (the kernel returns
// EINTR from epoll_wait for a ptrace stop, as for SIGSTOP; see signal(7)), and
// like any program it waits again.
struct Waiter {
  int ep = -1;
  long result = 0;
  epoll_event ev{};
  int eintr = 0;
  std::atomic<bool> done{false};
};

void waiter_body(Waiter* w) {
  for (;;) {
    epoll_event evs[4];
    long n = syscall(SYS_epoll_wait, w->ep, evs, 4, -1);
    if (n < 0 && errno == EINTR) {
      ++w->eintr;
      continue;
    }
    w->result = n < 0 ? -errno : n;
    if (n >= 1) w->ev = evs[0];
    w->done.store(true);
    return;
  }
}

[[noreturn]] void anon_fd_victim(int ready_fd) {
  struct sigaction sa{};
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, nullptr);
  sigset_t fdsigs;
  sigemptyset(&fdsigs);
  sigaddset(&fdsigs, SIGUSR2);
  sigaddset(&fdsigs, SIGRTMIN + 3);
  sigaddset(&fdsigs, SIGRTMIN + 4);
  sigprocmask(SIG_BLOCK, &fdsigs, nullptr);

  int ev_big = eventfd(0, 0);
  if (ev_big < 0 || !write_u64(ev_big, kAnonBigCount)) _exit(100);
  int ev_big_dup = dup(ev_big);
  int ev_sem = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
  int ev_a = eventfd(0, EFD_NONBLOCK);
  int ev_a2 = dup(ev_a);
  int ev_inner = eventfd(0, EFD_NONBLOCK);
  int ev_wake = eventfd(0, EFD_NONBLOCK);
  int pp[2];
  if (pipe2(pp, O_NONBLOCK) != 0) _exit(100);
  int devnull = open("/dev/null", O_RDWR);

  int t_once = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK);
  int t_slow = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  int t_fast = timerfd_create(CLOCK_MONOTONIC, 0);
  int t_abs = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
  int64_t abs_due = now_ns(CLOCK_REALTIME) + 100'000'000'000LL;
  if (!arm(t_once, CLOCK_BOOTTIME, 0, 1'000'000, 0) || !arm(t_slow, CLOCK_MONOTONIC, 0, 1'000'000, 60'000'000'000LL) ||
      !arm(t_fast, CLOCK_MONOTONIC, 0, kFastNs, kFastNs) ||
      !arm(t_abs, CLOCK_REALTIME, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, abs_due, 0))
    _exit(100);

  sigset_t sfd_mask;
  sigemptyset(&sfd_mask);
  sigaddset(&sfd_mask, SIGUSR2);
  sigaddset(&sfd_mask, SIGRTMIN + 3);
  int sfd = signalfd(-1, &sfd_mask, SFD_NONBLOCK | SFD_CLOEXEC);
  union sigval val;
  val.sival_int = 77;
  if (sigqueue(getpid(), SIGRTMIN + 3, val) != 0) _exit(100);
  val.sival_int = 88;
  if (sigqueue(getpid(), SIGRTMIN + 4, val) != 0) _exit(100);

  int ep_inner = epoll_create1(0);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  int ep_wake = epoll_create1(0);
  if (std::min({ev_big_dup, ev_sem, ev_a, ev_a2, ev_inner, ev_wake, devnull, t_once, t_slow, t_fast, t_abs, sfd,
                ep_inner, ep, ep_wake}) < 0)
    _exit(100);
  if (!add_watch(ep_inner, ev_inner, EPOLLIN, 0xe1) || !add_watch(ep, ev_a, EPOLLIN, 0xa1) ||
      !add_watch(ep, ev_a2, EPOLLIN, 0xa2) || !add_watch(ep, pp[0], EPOLLIN | EPOLLET, 0xb2) ||
      !add_watch(ep, pp[1], EPOLLOUT | EPOLLONESHOT, 0xd4) || !add_watch(ep, sfd, EPOLLIN, 0xc3) ||
      !add_watch(ep, ep_inner, EPOLLIN, 0xe5) || !add_watch(ep, t_once, EPOLLIN, 0xf6) ||
      !add_watch(ep_wake, ev_wake, EPOLLIN, kWakeData))
    _exit(100);
  usleep(5000);  // t_once and t_slow expire
  // Reports the one-shot watch, which disarms it; the others stay ready.
  if (!reports_exactly(ep, {{EPOLLOUT, 0xd4}, {EPOLLIN, 0xc3}, {EPOLLIN, 0xf6}})) _exit(100);

  std::vector<int> keep = {ev_big, ev_big_dup, ev_sem, ev_a, ev_a2, ev_inner, ev_wake, pp[0], pp[1], devnull,
                           t_once, t_slow, t_fast, t_abs, sfd, ep_inner, ep, ep_wake, ready_fd};
  if (*std::max_element(keep.begin(), keep.end()) >= 64) _exit(100);
  for (int fd = 0; fd < 64; ++fd)
    if (std::find(keep.begin(), keep.end(), fd) == keep.end()) close(fd);
  syscall(SYS_close_range, 64, ~0u, 0);

  // Only the main thread takes SIGUSR1.
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
  Waiter waiter;
  waiter.ep = ep_wake;
  std::thread waiter_thread(waiter_body, &waiter);
  pthread_sigmask(SIG_UNBLOCK, &usr1, nullptr);

  usleep(75000);  // >= 3 expirations of t_fast, none read
  auto want_list = watch_list(ep);
  if (want_list.size() != kAnonEpollWatches) _exit(100);

  char r = 'r';
  if (write(ready_fd, &r, 1) != 1) _exit(101);
  close(ready_fd);
  while (!g_wake) pause();

  int bad = 0;
  // eventfd: counters read back whole (no dump may have consumed them).
  if (read_u64(ev_big_dup) != kAnonBigCount) bad |= kAnonBadEventfd;
  if (fdinfo_field(ev_sem, "eventfd-semaphore") != "1" || read_u64(ev_sem) != 1 || read_u64(ev_sem) != 1 ||
      read_u64(ev_sem) != 1 || !drained(ev_sem))
    bad |= kAnonBadEventfd;
  // One open file description behind a dup(): the flag set on one shows on the other.
  fcntl(ev_big, F_SETFL, O_NONBLOCK);
  if (!nonblock(ev_big_dup) || !drained(ev_big)) bad |= kAnonBadSharing;
  for (int fd : {ev_sem, t_slow, sfd, ep})
    if (!cloexec(fd)) bad |= kAnonBadSharing;
  for (int fd : {ev_big, ev_big_dup, ev_a, ev_a2, t_fast, t_once, ep_inner, ep_wake})
    if (cloexec(fd)) bad |= kAnonBadSharing;
  for (int fd : {ev_sem, ev_a, t_once, t_slow, t_abs, sfd})
    if (!nonblock(fd)) bad |= kAnonBadSharing;
  for (int fd : {t_fast, ep, ep_inner})
    if (nonblock(fd)) bad |= kAnonBadSharing;

  // epoll: the same watches, and the ones that were ready still are.
  if (watch_list(ep) != want_list) bad |= kAnonBadEpollList;
  if (!reports_exactly(ep, {{EPOLLIN, 0xc3}, {EPOLLIN, 0xf6}})) bad |= kAnonBadEpollEvents;

  // signalfd: its mask, the signal queued before the dump and SIGUSR2 from the test.
  char mask_text[32];
  std::snprintf(mask_text, sizeof(mask_text), "%016llx",
                (1ULL << (SIGUSR2 - 1)) | (1ULL << (SIGRTMIN + 3 - 1)));
  if (fdinfo_field(sfd, "sigmask") != mask_text) bad |= kAnonBadSignalfd;
  bool got_usr2 = false, got_rt = false;
  signalfd_siginfo si;
  while (nonblock(sfd) && read(sfd, &si, sizeof(si)) == sizeof(si)) {
    if (si.ssi_signo == SIGUSR2 && si.ssi_code == SI_USER && si.ssi_pid == static_cast<uint32_t>(getppid()) && !got_usr2)
      got_usr2 = true;
    else if (static_cast<int>(si.ssi_signo) == SIGRTMIN + 3 && si.ssi_code == SI_QUEUE && si.ssi_int == 77 && !got_rt)
      got_rt = true;
    else
      bad |= kAnonBadSignalfd;
  }
  if (!nonblock(sfd) || errno != EAGAIN || !got_usr2 || !got_rt) bad |= kAnonBadSignalfd;
  // Outside its mask: still queued for the process.
  sigset_t rt4;
  sigemptyset(&rt4);
  sigaddset(&rt4, SIGRTMIN + 4);
  timespec zero{};
  siginfo_t info;
  if (sigtimedwait(&rt4, &info, &zero) != SIGRTMIN + 4 || info.si_value.sival_int != 88) bad |= kAnonBadSignalfd;

  // timerfd: unread expirations, clocks, time left and intervals.
  if (fdinfo_field(t_once, "clockid") != "7" || fdinfo_field(t_slow, "clockid") != "1" ||
      fdinfo_field(t_fast, "clockid") != "1" || fdinfo_field(t_abs, "clockid") != "0")
    bad |= kAnonBadTimerTiming;
  if (read_u64(t_once) != 1 || !drained(t_once)) bad |= kAnonBadTimerTicks;
  if (read_u64(t_slow) != 1 || !drained(t_slow)) bad |= kAnonBadTimerTicks;
  itimerspec cur{};
  if (timerfd_gettime(t_slow, &cur) != 0 || ns(cur.it_interval) != 60'000'000'000LL || ns(cur.it_value) <= 0 ||
      ns(cur.it_value) > 60'000'000'000LL)
    bad |= kAnonBadTimerTiming;
  // The absolute timer keeps its deadline, however long the dump and restore took.
  int64_t abs_left = abs_due - now_ns(CLOCK_REALTIME);
  if (timerfd_gettime(t_abs, &cur) != 0 || ns(cur.it_interval) != 0 || ns(cur.it_value) > abs_left + 100'000'000LL ||
      ns(cur.it_value) < abs_left - 100'000'000LL || fdinfo_field(t_abs, "settime flags") != "03")
    bad |= kAnonBadTimerTiming;
  if (read_u64(t_fast) < 3) bad |= kAnonBadTimerTicks;  // blocking: >= 3 were pending at the dump
  if (timerfd_gettime(t_fast, &cur) != 0 || ns(cur.it_interval) != kFastNs) bad |= kAnonBadTimerTiming;
  // It keeps its period: after the drain, N expirations take at least N-1 periods.
  int64_t t0 = now_ns();
  uint64_t fired = 0;
  for (uint64_t k = 1; fired < 3 && k != 0;) fired += k = read_u64(t_fast);
  int64_t took = now_ns() - t0;
  if (fired < 3 || took < static_cast<int64_t>(fired - 1) * kFastNs - 1'000'000 ||
      took > static_cast<int64_t>(fired) * kFastNs + 2'000'000'000LL)
    bad |= kAnonBadTimerTiming;

  // epoll again, with the signalfd and the one-shot timer drained: nothing is ready
  // until a watched file becomes so, and then exactly its watches report.
  if (!reports_exactly(ep, {})) bad |= kAnonBadEpollEvents;
  if (!write_u64(ev_a, 1) || !reports_exactly(ep, {{EPOLLIN, 0xa1}, {EPOLLIN, 0xa2}}) || read_u64(ev_a) != 1 ||
      !reports_exactly(ep, {}))
    bad |= kAnonBadEpollEvents;
  char c = 'x';
  // Edge-triggered: reported once although the byte stays unread.
  if (write(pp[1], &c, 1) != 1 || !reports_exactly(ep, {{EPOLLIN, 0xb2}}) || !reports_exactly(ep, {}) ||
      read(pp[0], &c, 1) != 1)
    bad |= kAnonBadEpollEvents;
  if (!write_u64(ev_inner, 1) || !reports_exactly(ep, {{EPOLLIN, 0xe5}}) || read_u64(ev_inner) != 1 ||
      !reports_exactly(ep, {}))
    bad |= kAnonBadEpollEvents;
  // The disarmed one-shot watch is still registered under the write end's number.
  epoll_event mod{};
  mod.events = EPOLLOUT | EPOLLONESHOT;
  mod.data.u64 = 0xd4;
  if (epoll_ctl(ep, EPOLL_CTL_MOD, pp[1], &mod) != 0 || !reports_exactly(ep, {{EPOLLOUT, 0xd4}}) ||
      !reports_exactly(ep, {}))
    bad |= kAnonBadEpollEvents;
  if (epoll_ctl(ep, EPOLL_CTL_DEL, ev_a2, nullptr) != 0 || !write_u64(ev_a, 1) ||
      !reports_exactly(ep, {{EPOLLIN, 0xa1}}) || read_u64(ev_a) != 1)
    bad |= kAnonBadEpollEvents;
  if (write(devnull, "x", 1) != 1) bad |= kAnonBadSharing;

  // The blocked thread gets exactly the event that makes its epoll ready.
  if (!write_u64(ev_wake, 1)) bad |= kAnonBadWaiter;
  // Bounded: a lost watch must be reported, not hang the victim (_exit ends the thread).
  for (int i = 0; i < 5000 && !waiter.done.load(); ++i) usleep(1000);
  if (!waiter.done.load()) _exit(bad | kAnonBadWaiter);
  waiter_thread.join();
  if (waiter.result != 1 || waiter.ev.events != EPOLLIN || waiter.ev.data.u64 != kWakeData) bad |= kAnonBadWaiter;
  _exit(bad);
}

}  // namespace

pid_t start_anon_fd_victim() {
  return start_victim("anon-fd victim", [](int ready) { anon_fd_victim(ready); }, true);
}

}  // namespace flakelab::victims
