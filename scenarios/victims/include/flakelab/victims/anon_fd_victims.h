// Self-checking victim for the anonymous-inode fds: eventfd, epoll, timerfd and
// signalfd (see victims.h for how victims are driven).
//
// Set up, in one process:
// - eventfd: count 0x1234567890ab (above UINT_MAX) shared by an fd and its
//   dup(); an EFD_SEMAPHORE | EFD_NONBLOCK one with count 3 and FD_CLOEXEC;
// - timerfd: a CLOCK_BOOTTIME one-shot that expired (1 unread tick); a
//   CLOCK_MONOTONIC one with a 60 s interval that expired once (1 unread tick);
//   a blocking CLOCK_MONOTONIC one firing every 20 ms, never read (>= 3 ticks
//   unread when ready); a CLOCK_REALTIME TFD_TIMER_ABSTIME |
//   TFD_TIMER_CANCEL_ON_SET one due in 100 s (it must keep that deadline);
// - signalfd for {SIGUSR2, SIGRTMIN+3} (O_NONBLOCK, FD_CLOEXEC) with
//   SIGRTMIN+3 (value 77) queued, and SIGRTMIN+4 (value 88, not in its mask);
// - an epoll watching an eventfd under two numbers (fd and its dup), a pipe's
//   read end with EPOLLET, its write end with EPOLLOUT | EPOLLONESHOT (already
//   reported, so disarmed), the signalfd, the one-shot timerfd and a second
//   epoll (which watches an eventfd), each with its own data;
// - /dev/null, and a second thread blocked in epoll_wait() on a third epoll,
//   watching an eventfd that only the verification writes.
//
// The test sends SIGUSR2 (the signalfd must deliver it, from the test's pid),
// then SIGUSR1. The victim then checks counters, flags, FD_CLOEXEC and dup
// sharing, the epoll watch lists (fdinfo, compared to the ones recorded before)
// and what epoll_wait reports as each watched file becomes ready, the unread
// timer ticks, clocks, intervals and that the 20 ms timer keeps its period, the
// signals read from the signalfd, and that the blocked thread receives its
// event; it exits with kVictimOk or kAnonBad* bits.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace flakelab::victims {

constexpr int kAnonBadEventfd = 1;       // counter values, EFD_SEMAPHORE
constexpr int kAnonBadSharing = 2;       // dup() sharing, FD_CLOEXEC, O_NONBLOCK
constexpr int kAnonBadTimerTicks = 4;    // unread expirations
constexpr int kAnonBadTimerTiming = 8;   // clocks, time left, interval, period, settime flags
constexpr int kAnonBadSignalfd = 16;     // mask and the signals it delivers
constexpr int kAnonBadEpollList = 32;    // watch list as fdinfo shows it
constexpr int kAnonBadEpollEvents = 64;  // what epoll_wait reports
constexpr int kAnonBadWaiter = 128;      // the thread blocked in epoll_wait

constexpr uint64_t kAnonBigCount = 0x1234567890abULL;
constexpr int kAnonEpollWatches = 7;  // watches of the main epoll

pid_t start_anon_fd_victim();

}  // namespace flakelab::victims
