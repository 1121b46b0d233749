#include "cr_victims.h"

#include <fmt/format.h>

#include <signal.h>

#include "flakelab/victims/anon_fd_victims.h"
#include "flakelab/victims/inet_victims.h"
#include "flakelab/victims/netlink_victims.h"
#include "flakelab/victims/mem_victims.h"
#include "flakelab/victims/syscall_victims.h"
#include "flakelab/victims/tree_victims.h"
#include "flakelab/victims/victims.h"

namespace flakelab::scenarios::cr {

namespace victims = flakelab::victims;

const std::vector<CrVictim>& cr_victims() {
  static const std::vector<CrVictim> all = {
      {"memory",
       "64 MiB sparse anonymous region, read-only and PROT_NONE pages with data, heap, stack, callee-saved "
       "registers and ymm8-11",
       {},
       [](const TrialContext&, const std::string&) { return victims::start_memory_victim(); },
       nullptr,
       {{victims::kVictimBadRegs, "registers"},
        {victims::kVictimBadBig, "sparse region contents"},
        {victims::kVictimBadReadOnly, "read-only page"},
        {victims::kVictimBadGuard, "PROT_NONE page"},
        {victims::kVictimBadHeap, "heap"},
        {victims::kVictimBadStack, "stack"},
        {victims::kVictimBadUntouched, "never-touched pages are no longer zero"}}},
      {"threads",
       "a main thread and N others, each with its own registers and thread_local value, waiting in futex(); "
       "checks tids, registers, TLS and that pthread_join works",
       {ParamSpec::integer("threads", 4, 1, 64, "threads besides the main one (1-64)")},
       [](const TrialContext& ctx, const std::string&) {
         int n = std::stoi(ctx.param("threads"));
         if (n < 1 || n > 64) throw std::invalid_argument(fmt::format("threads={} is outside 1-64", n));
         return victims::start_thread_victim(n);
       },
       nullptr,
       {{victims::kThreadBadMainRegs, "main thread registers"},
        {victims::kThreadBadRegs, "registers of another thread"},
        {victims::kThreadBadTid, "thread ids"},
        {victims::kThreadBadTls, "thread-local storage"}}},
      {"files",
       "a file open at offset 5 with a dup() sharing the offset, an O_APPEND file, /dev/null with FD_CLOEXEC, "
       "a directory",
       {},
       [](const TrialContext&, const std::string& dir) { return victims::start_file_victim(dir); },
       nullptr,
       {{victims::kFileBadOffset, "file offset"},
        {victims::kFileBadShared, "dup()ed fds no longer share their offset"},
        {victims::kFileBadAppend, "O_APPEND"},
        {victims::kFileBadCloexec, "FD_CLOEXEC"},
        {victims::kFileBadDevNull, "/dev/null"},
        {victims::kFileBadDir, "directory fd"}}},
      {"pipes",
       "a 256 KiB pipe holding 100 000 unread bytes with a dup()ed write end, and an empty O_NONBLOCK pipe",
       {},
       [](const TrialContext&, const std::string&) { return victims::start_pipe_victim(); },
       nullptr,
       {{victims::kPipeBadData, "unread pipe data"},
        {victims::kPipeBadCapacity, "pipe capacity"},
        {victims::kPipeBadNonblock, "O_NONBLOCK"},
        {victims::kPipeBadUse, "pipes no longer work"}}},
      {"signals",
       "blocked SIGUSR2 and SIGRTMIN+1 queued process-wide (values 42, 43) and per thread; checks order, values, "
       "si_code and si_pid",
       {},
       [](const TrialContext&, const std::string&) { return victims::start_signal_victim(); },
       nullptr,
       {{victims::kSignalBadShared, "process-wide queued signals"},
        {victims::kSignalBadPrivate, "per-thread queued signal"},
        {victims::kSignalBadExtra, "unexpected extra signal"}}},
      {"attrs",
       "cwd, umask 027, RLIMIT_NOFILE 100/200, sigaltstack, personality, comm, ITIMER_REAL every 5 ms",
       {},
       [](const TrialContext&, const std::string& dir) { return victims::start_attr_victim(dir); },
       nullptr,
       {{victims::kAttrBadCwd, "cwd"},
        {victims::kAttrBadUmask, "umask"},
        {victims::kAttrBadRlimit, "rlimits"},
        {victims::kAttrBadAltstack, "sigaltstack"},
        {victims::kAttrBadTimer, "ITIMER_REAL stopped firing"},
        {victims::kAttrBadPersonality, "personality"},
        {victims::kAttrBadComm, "comm"}}},
      {"anon-fds",
       "eventfd counters (64-bit, semaphore), timerfds (ticks, clocks, intervals, absolute deadline), a signalfd, "
       "epoll watch lists (incl. nested epoll, EPOLLET/ONESHOT) and a thread blocked in epoll_wait",
       {},
       [](const TrialContext&, const std::string&) { return victims::start_anon_fd_victim(); },
       [](pid_t pid) { ::kill(pid, SIGUSR2); },   // its signalfd must deliver this one
       {{victims::kAnonBadEventfd, "eventfd counters"},
        {victims::kAnonBadSharing, "dup() sharing, FD_CLOEXEC or O_NONBLOCK"},
        {victims::kAnonBadTimerTicks, "unread timerfd ticks"},
        {victims::kAnonBadTimerTiming, "timerfd clocks, deadlines or intervals"},
        {victims::kAnonBadSignalfd, "signalfd"},
        {victims::kAnonBadEpollList, "epoll watch list"},
        {victims::kAnonBadEpollEvents, "epoll events"},
        {victims::kAnonBadWaiter, "thread blocked in epoll_wait"}}},
      {"inet-sockets",
       "UDP/UDP6 sockets bound, connected, dual-stack, shut down one way and never bound, TCP/TCP6 listeners, a "
       "bound-only and an unbound TCP socket, with SO_*/IP_*/IPV6_*/TCP_* options; checks names, options, "
       "datagrams both ways, shutdown and that listeners accept",
       {},
       [](const TrialContext&, const std::string&) { return victims::start_inet_socket_victim(); },
       nullptr,
       {{victims::kInetBadNames, "socket addresses"},
        {victims::kInetBadOptions, "socket options or O_NONBLOCK"},
        {victims::kInetBadDatagrams, "datagrams"},
        {victims::kInetBadShutdown, "shutdown state"},
        {victims::kInetBadListen, "listeners or their backlog"},
        {victims::kInetBadUnbound, "unbound or bound-only sockets"}}},
      {"netlink-sockets",
       "NETLINK_ROUTE bound to a kernel-chosen port id in groups 27 and 33 with options, NETLINK_GENERIC unbound, "
       "NETLINK_SOCK_DIAG; checks port ids, groups, options and that route and sock_diag still answer",
       {},
       [](const TrialContext&, const std::string&) { return victims::start_netlink_socket_victim(); },
       nullptr,
       {{victims::kNetlinkBadNames, "port ids"},
        {victims::kNetlinkBadGroups, "multicast groups"},
        {victims::kNetlinkBadOptions, "socket options"},
        {victims::kNetlinkBadTalk, "a request got no answer"}}},
      {"unlinked",
       "a file unlinked while open (with a hole), open three ways, dup()ed, mapped shared, shared read-only and "
       "private; another unlinked file only mapped",
       {},
       [](const TrialContext&, const std::string& dir) { return victims::start_unlinked_victim(dir); },
       nullptr,
       {{victims::kUnlinkedBadVisible, "the file reappeared in its directory"},
        {victims::kUnlinkedBadContent, "contents"},
        {victims::kUnlinkedBadOffset, "offsets or dup() sharing"},
        {victims::kUnlinkedBadFlags, "open flags"},
        {victims::kUnlinkedBadMode, "mode"},
        {victims::kUnlinkedBadMapping, "mappings are no longer the same file"},
        {victims::kUnlinkedBadWrites, "writes no longer reach the file"}}},
      {"fifos",
       "FIFOs holding unread data (read+write ends, O_RDWR, writers gone, readers gone) and one-ended pipes",
       {},
       [](const TrialContext&, const std::string& dir) { return victims::start_fifo_victim(dir); },
       nullptr,
       {{victims::kFifoBadData, "unread bytes"},
        {victims::kFifoBadFlags, "flags"},
        {victims::kFifoBadCapacity, "capacity"},
        {victims::kFifoBadUse, "FIFOs no longer carry data"},
        {victims::kFifoBadOneEnded, "one-ended pipes"},
        {victims::kFifoBadPath, "FIFO paths"}}},
      {"shmem",
       "shared anonymous memory mapped three ways, a sparse 256 MiB shared region, memfds (shared, private, "
       "sealed) as fds and mappings",
       {},
       [](const TrialContext&, const std::string&) { return victims::start_shmem_victim(); },
       nullptr,
       {{victims::kShmemBadAnon, "shared anonymous contents"},
        {victims::kShmemBadAnonShared, "shared anonymous aliases are no longer one object"},
        {victims::kShmemBadSparse, "sparse shared region"},
        {victims::kShmemBadMemfd, "memfd contents, name, size or offset"},
        {victims::kShmemBadMemfdShared, "memfd aliases are no longer one object"},
        {victims::kShmemBadSeals, "memfd seals"},
        {victims::kShmemBadPrivate, "private memfd mapping"}}},
      {"syscalls",
       "threads frozen in read on an empty pipe, sigsuspend with a temporary mask, nanosleep, absolute "
       "clock_nanosleep and a futex wait; each call must resume as after a plain stop",
       {},
       [](const TrialContext&, const std::string&) { return victims::start_syscall_victim(); },
       nullptr,
       {{victims::kSyscallBadRead, "read on the pipe"},
        {victims::kSyscallBadSigsuspend, "sigsuspend"},
        {victims::kSyscallBadMask, "mask after sigsuspend"},
        {victims::kSyscallBadNanosleep, "nanosleep returned early or EINTR"},
        {victims::kSyscallBadClockNanosleep, "clock_nanosleep before its deadline"},
        {victims::kSyscallBadFutex, "futex wait"},
        {victims::kSyscallBadMain, "the main thread's sigsuspend"}}},
      {"tree",
       "a process tree three generations deep (children, grandchild, great-grandchild), a child with a second "
       "thread; every process checks its pid, parent and memory",
       {},
       [](const TrialContext&, const std::string&) { return victims::start_tree_victim(); },
       nullptr,
       {{victims::kTreeBadPid, "pid"},
        {victims::kTreeBadPpid, "parent"},
        {victims::kTreeBadChild, "a child is missing or died"},
        {victims::kTreeBadMemory, "memory of a process"},
        {victims::kTreeBadThread, "second thread of a child"}}},
      {"sessions",
       "a session leader, group leaders that do not lead their session, members of groups led by a sibling, "
       "processes in the caller's session and group",
       {},
       [](const TrialContext&, const std::string&) { return victims::start_session_victim(); },
       nullptr,
       {{victims::kTreeBadPid, "pid"},
        {victims::kTreeBadPpid, "parent"},
        {victims::kTreeBadChild, "a child is missing or died"},
        {victims::kTreeBadMemory, "memory of a process"},
        {victims::kSessionBadSid, "session"},
        {victims::kSessionBadPgid, "process group"}}},
      {"shared-files",
       "pipes (one in each direction), a FIFO and an eventfd shared by a parent and its child, with data in flight",
       {},
       [](const TrialContext&, const std::string& dir) { return victims::start_shared_files_victim(dir); },
       nullptr,
       {{victims::kTreeBadPid, "pid"},
        {victims::kTreeBadPpid, "parent"},
        {victims::kTreeBadChild, "the child is missing or died"},
        {victims::kSharedBadPipe, "pipe to the child (data in flight or no longer one pipe)"},
        {victims::kSharedBadReply, "pipe to the parent"},
        {victims::kSharedBadFifo, "shared FIFO"},
        {victims::kSharedBadEventfd, "shared eventfd"}}},
      {"shared-offset",
       "one open file shared by a parent and its child through fork; the child moved the shared offset",
       {},
       [](const TrialContext&, const std::string& dir) { return victims::start_shared_offset_victim(dir); },
       nullptr,
       {{victims::kTreeBadPid, "pid"},
        {victims::kTreeBadPpid, "parent"},
        {victims::kTreeBadChild, "the child is missing or died"},
        {victims::kOffsetBad, "the offset is no longer shared"},
        {victims::kOffsetBadContent, "file contents"}}},
      {"zombies",
       "two unreaped children (exit status 42, killed by SIGTERM); checks statuses, pids and that no extra "
       "SIGCHLD arrives",
       {},
       [](const TrialContext&, const std::string&) { return victims::start_zombie_victim(); },
       nullptr,
       {{victims::kTreeBadPid, "pid"},
        {victims::kTreeBadPpid, "parent"},
        {victims::kTreeBadChild, "an unexpected child"},
        {victims::kZombieBadStatus, "zombie exit status"},
        {victims::kZombieBadSigchld, "extra SIGCHLD"}}},
  };
  return all;
}

std::string describe_damage(const CrVictim& victim, int status) {
  std::string out;
  int known = 0;
  for (const auto& [bit, what] : victim.damage_bits) {
    known |= bit;
    if (status & bit) out += (out.empty() ? "" : ", ") + what;
  }
  for (int bit = 1; bit < 256; bit <<= 1)
    if ((status & bit) && !(known & bit)) out += (out.empty() ? "" : ", ") + fmt::format("bit 0x{:x}", bit);
  return out;
}

}  // namespace flakelab::scenarios::cr
