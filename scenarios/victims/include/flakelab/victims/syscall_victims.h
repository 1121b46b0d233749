// A victim whose threads are frozen inside blocking syscalls when dumped, to check
// that each call resumes after restore as it would have after a plain stop.
//
// Threads: one in read() on an empty pipe; one in sigsuspend() with a temporary
// mask that lets only SIGUSR2 through (SIGUSR2 is blocked otherwise); one in
// nanosleep(kSleepMs) with a remainder; one in clock_nanosleep(CLOCK_MONOTONIC,
// TIMER_ABSTIME) until a deadline kSleepMs after it started; one in a FUTEX_WAIT
// without timeout. The main thread waits in sigsuspend() for SIGUSR1.
//
// On SIGUSR1 the main thread writes 8 bytes into the pipe, sends SIGUSR2 to the
// sigsuspend thread, wakes the futex, and checks: read() returned exactly those
// bytes; sigsuspend() returned EINTR after the handler ran and the thread's mask
// has SIGUSR2 blocked again; nanosleep() returned 0 (not EINTR) no earlier than
// kSleepMs after it started; clock_nanosleep() returned 0 at or after its
// deadline; the futex waiter returned 0 after the wake. Exit kVictimOk or bits.
#pragma once

#include <sys/types.h>

namespace flakelab::victims {

constexpr int kSleepMs = 150;
constexpr int kSyscallBadRead = 1;
constexpr int kSyscallBadSigsuspend = 2;
constexpr int kSyscallBadMask = 4;
constexpr int kSyscallBadNanosleep = 8;
constexpr int kSyscallBadClockNanosleep = 16;
constexpr int kSyscallBadFutex = 32;
constexpr int kSyscallBadMain = 64;    // the main thread's own sigsuspend

pid_t start_syscall_victim();

}  // namespace flakelab::victims
