// Self-checking victims for dump/restore tests, run as forked children of the test
// (so that a restore done by the test makes them its children again).
//
// The memory victim fills anonymous memory (a 64 MiB region touched every 97th
// page, a read-only page, a PROT_NONE page holding data, heap and stack buffers)
// and holds known values in rbx, r12-r15 and ymm8-11 while it sleeps in pause().
// On SIGUSR1 it checks all of it and exits with kVictimOk or a bitmask of what
// was damaged (kVictimBad*).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace flakelab::victims {

// Forks a victim: the child asks for SIGKILL on its parent's death, runs the setup
// hook (see set_victim_setup), then `body(ready_fd)`, which writes one byte to
// ready_fd once its state is set up, sleeps, and ends in _exit(). Returns once the
// victim (with `all_threads`, every thread of it) sleeps. Throws std::runtime_error
// naming `what` on failure, leaving no child behind.
pid_t start_victim(const std::string& what, const std::function<void(int)>& body, bool all_threads = false);

// Runs `setup` first in every victim forked from now on (the cr/* scenarios pin the
// victim there, before it starts threads). Empty: nothing.
void set_victim_setup(std::function<void()> setup);

// In a process exec'd to become a victim (see flakelab/scenarios/fresh_victim.h): the
// next start_victim() runs its body here, with `ready_fd`, instead of forking, and so
// never returns. The setup hook is not run (the exec'ing parent ran it before exec).
void run_victim_body_here(int ready_fd);

constexpr int kVictimOk = 0;
constexpr int kVictimBadRegs = 1;
constexpr int kVictimBadBig = 2;
constexpr int kVictimBadReadOnly = 4;
constexpr int kVictimBadGuard = 8;
constexpr int kVictimBadHeap = 16;
constexpr int kVictimBadStack = 32;
constexpr int kVictimBadUntouched = 64;

// Forks the memory victim and returns once it sleeps in pause() with everything
// set up. Throws std::runtime_error on failure.
pid_t start_memory_victim();

// The thread victim: the main thread and `threads` others, each holding its own
// register pattern and thread_local value; the others wait in futex(), the main
// thread in pause(). On SIGUSR1 every thread checks its registers, its tid (same as
// before) and its TLS, the main thread joins the others (which needs each thread's
// clear_child_tid) and exits with kVictimOk or kThreadBad* bits.
constexpr int kThreadBadMainRegs = 1;
constexpr int kThreadBadRegs = 2;
constexpr int kThreadBadTid = 4;
constexpr int kThreadBadTls = 8;
pid_t start_thread_victim(int threads);

// The file victim (in `dir`): a file open read-write at offset 5 and a dup() of
// it at fd 9, the same file open O_APPEND, /dev/null with FD_CLOEXEC, and the
// directory. On SIGUSR1 it checks offsets (the dup shares one), flags, kinds and
// contents and exits with kVictimOk or kFileBad* bits.
constexpr int kFileBadOffset = 1;
constexpr int kFileBadShared = 2;
constexpr int kFileBadAppend = 4;
constexpr int kFileBadCloexec = 8;
constexpr int kFileBadDevNull = 16;
constexpr int kFileBadDir = 32;
pid_t start_file_victim(const std::string& dir);

// The pipe victim: a pipe holding 100 000 unread bytes (capacity raised to
// 256 KiB) with a dup()ed write end, and an empty O_NONBLOCK pipe. On SIGUSR1 it
// reads everything back, checks capacity, flags and that both pipes still work,
// and exits with kVictimOk or kPipeBad* bits.
constexpr int kPipeBadData = 1;
constexpr int kPipeBadCapacity = 2;
constexpr int kPipeBadNonblock = 4;
constexpr int kPipeBadUse = 8;
pid_t start_pipe_victim();

// The signal victim blocks SIGUSR2 and SIGRTMIN+1, queues SIGRTMIN+1 twice to
// itself (values 42, 43: process-wide queue) and tgkill()s SIGUSR2 to its thread
// (private queue). On SIGUSR1 it takes them with sigtimedwait, checking order,
// values and si_code/si_pid, and exits with kVictimOk or kSignalBad* bits.
constexpr int kSignalBadShared = 1;
constexpr int kSignalBadPrivate = 2;
constexpr int kSignalBadExtra = 4;
pid_t start_signal_victim();

// The attributes victim: cwd `dir`, umask 027, RLIMIT_NOFILE 100/200, an
// alternate signal stack, personality ADDR_NO_RANDOMIZE, comm "attr-victim", and
// ITIMER_REAL firing every 5 ms (SIGALRM counted). On SIGUSR1 it checks all of
// them, and that the timer keeps firing, and exits with kVictimOk or kAttrBad*.
constexpr int kAttrBadCwd = 1;
constexpr int kAttrBadUmask = 2;
constexpr int kAttrBadRlimit = 4;
constexpr int kAttrBadAltstack = 8;
constexpr int kAttrBadTimer = 16;
constexpr int kAttrBadPersonality = 32;
constexpr int kAttrBadComm = 64;
pid_t start_attr_victim(const std::string& dir);

// Sorted open fd numbers of `pid`.
std::vector<int> fd_numbers(pid_t pid);

// Waits until every thread of `pid` sleeps (state S); false on timeout.
bool wait_all_sleeping(pid_t pid, int timeout_ms = 5000);

// Sorted thread ids of `pid`.
std::vector<pid_t> thread_ids(pid_t pid);

// Waits up to `timeout_ms` for `pid` (a child) to exit; returns its wait status,
// or kills and reaps it and returns -1 on timeout.
int wait_exit(pid_t pid, int timeout_ms = 10000);

// Waits until the process is in `state` (the letter of /proc/PID/stat); false on
// timeout. wait_sleeping() waits for 'S'.
bool wait_state(pid_t pid, char state, int timeout_ms = 5000);
bool wait_sleeping(pid_t pid, int timeout_ms = 5000);

// "/proc/PID/maps" as "start-end perms path" lines, adjacent compatible mappings merged.
std::string maps_summary(pid_t pid);

// Kills and reaps a child, ignoring errors (test cleanup).
void kill_child(pid_t pid);

}  // namespace flakelab::victims
