// Self-checking process-tree victims: the root is a forked child of the caller
// (start_victim) and forks the rest itself. Every process blocks SIGUSR1 and
// waits for it; on SIGUSR1 the root checks its own state, sends SIGUSR1 to its
// children, which check theirs and their children's, and exits with kVictimOk
// (victims.h) or a bitmask of what was damaged anywhere in the tree. Each
// start_* returns once the whole tree is set up; it throws std::runtime_error
// if it cannot start.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace flakelab::victims {

// Bits shared by the tree victims: a process's own identity.
constexpr int kTreeBadPid = 1;       // getpid() changed
constexpr int kTreeBadPpid = 2;      // getppid() is not the parent it had
constexpr int kTreeBadChild = 4;     // a child is missing, or reported damage
constexpr int kTreeBadMemory = 8;    // a process's memory pattern changed
constexpr int kTreeBadThread = 16;   // the second thread of a child is gone or wrong

// Root R with children A and B; A runs a second thread and has a child A1,
// which has a child A1a (three generations below the root). Each process keeps
// a memory pattern of its own.
pid_t start_tree_victim();

// Sessions and groups. R (the caller's session and group) has children:
//   S: setsid() (session leader), with children S1 (setpgid(0,0): a group
//      leader that does not lead its session; its child S2 stays in S1's group)
//      and S3 (joins S1's group: a member led by its sibling);
//   G: setpgid(0,0) in R's session, with child G1 in G's group;
//   H: joins G's group (led by its sibling).
// Each checks its sid, pgid and parent.
constexpr int kSessionBadSid = 16;
constexpr int kSessionBadPgid = 32;
pid_t start_session_victim();

// Objects shared between a parent and its child, each with data in flight:
// pipe P->C holding "to-child" (fds kSharedToChild*), pipe C->P holding
// "to-parent", a FIFO (in `dir`) the child writes and the parent reads holding
// "fifo-data", an eventfd at count 5. On SIGUSR1 the child reads its in-flight
// bytes, answers through the pipes and the FIFO, adds 7 to the eventfd; the
// parent checks everything arrived (so each is still one object).
constexpr int kSharedToChildRead = 20;   // the fd numbers (same in both)
constexpr int kSharedToChildWrite = 21;
constexpr int kSharedEventfd = 24;
constexpr int kSharedBadPipe = 16;
constexpr int kSharedBadReply = 32;
constexpr int kSharedBadFifo = 64;
constexpr int kSharedBadEventfd = 128;
pid_t start_shared_files_victim(const std::string& dir);

// One open file (in `dir`) shared by parent and child through fork: the child
// moved the shared offset to 42 before the dump. On SIGUSR1 the parent checks
// 42, writes a byte, the child checks 43 and the file's contents.
constexpr int kOffsetBad = 16;
constexpr int kOffsetBadContent = 32;
pid_t start_shared_offset_victim(const std::string& dir);

// Unix sockets across a parent and its child: a stream socketpair whose ends
// the parent (kTreeSockParentEnd) and the child (kTreeSockChildEnd) hold, data
// queued both ways; a datagram socket bound to an abstract name that both hold
// (kTreeSockShared) with a datagram queued; in flight in the parent's end, a
// pipe end and a socket the child holds too. On SIGUSR1 the parent receives the
// files, reads the pipe, writes through the socket, answers on the pair; the
// child checks the pair, the socket it sent and the datagram.
constexpr int kTreeSockParentEnd = 30;
constexpr int kTreeSockChildEnd = 31;
constexpr int kTreeSockShared = 32;
constexpr int kTreeSockBadStream = 16;
constexpr int kTreeSockBadDgram = 32;
constexpr int kTreeSockBadFlight = 64;
pid_t start_tree_socket_victim();

// Two unreaped children: one exited with status 42, one killed by SIGTERM; the
// parent counted two SIGCHLD. On SIGUSR1 it reaps them (pids and statuses must
// match) and checks that no further SIGCHLD arrived.
constexpr int kZombieBadStatus = 16;
constexpr int kZombieBadSigchld = 32;
pid_t start_zombie_victim();

// Forks a sleeping child every 2 ms (up to kForkingMax) until SIGUSR1; then
// every child must be there with the root as parent.
constexpr int kForkingMax = 16;
constexpr int kForkingBadCount = 16;
pid_t start_forking_victim();

// In a victim: closes every inherited fd but `ready`, which moves to fd 63
// (returned), and puts /dev/null on 0-2, so that nothing of the caller's (a
// test runner's output pipe) is dumped with it.
int clean_victim_fds(int ready);

// Every descendant of `pid` (from /proc/PID/task/*/children), parents first.
std::vector<pid_t> descendants(pid_t pid);

}  // namespace flakelab::victims
