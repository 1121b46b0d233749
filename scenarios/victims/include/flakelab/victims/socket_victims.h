// Self-checking victims for AF_UNIX sockets: forked children of the caller that
// set up sockets, sleep in pause(), and on SIGUSR1 verify everything and exit
// with kVictimOk (victims.h) or a bitmask of what was damaged. Each throws
// std::runtime_error if it cannot start.
#pragma once

#include <sys/types.h>

#include <string>

namespace flakelab::victims {

// The socket victim (path names in `dir`):
// - a stream socketpair with data queued both ways in several writes;
// - a seqpacket socketpair holding records of 1, 3000 and 70000 bytes;
// - an abstract-named datagram socket (name with embedded NULs) holding datagrams
//   from a path-bound sender, an abstract-named sender (both still open), an
//   unnamed sender, and a sender that was closed after sending;
// - a listener bound to DIR/listen (backlog 7) with an accepted connection (the
//   client bound to an abstract name) and two pending connections: the first
//   client sent "pending-1" before the dump, the second nothing;
// - a stream pair where one end did shutdown(SHUT_WR) after "last words", and a
//   stream socket whose peer was closed with "orphan" unread;
// - SO_PASSCRED, SO_SNDBUF/SO_RCVBUF and O_NONBLOCK on some sockets, and a
//   datagram socket connected one way to a named one.
// On SIGUSR1 it checks names (getsockname/getpeername both ends), types, data,
// boundaries, sender addresses, accept() of the pending connections and their
// data, shutdown (EOF/EPIPE), options, and that every socket still carries data.
constexpr int kSockBadNames = 1;
constexpr int kSockBadData = 2;
constexpr int kSockBadBoundaries = 4;
constexpr int kSockBadSenders = 8;
constexpr int kSockBadBacklog = 16;
constexpr int kSockBadShutdown = 32;
constexpr int kSockBadOptions = 64;
pid_t start_socket_victim(const std::string& dir);

// The in-flight victim: SCM_RIGHTS messages queued in its own sockets carry a
// pipe read end (the pipe holds bytes), a regular file at offset 3 (`dir`/file),
// an eventfd (count 7), a dup of its own fd 0-less file (the same description as
// one it holds), and a socket that exists only in flight (its peer is held and
// had sent it "only-in-flight"); a socket queued in itself (self loop, kept as an
// fd too). On SIGUSR1 it receives them in order and checks kinds, contents,
// offsets, that shared descriptions are shared, and that the in-flight socket
// still talks to its peer.
constexpr int kFlightBadOrder = 1;
constexpr int kFlightBadPipe = 2;
constexpr int kFlightBadFile = 4;
constexpr int kFlightBadEventfd = 8;
constexpr int kFlightBadSocket = 16;
constexpr int kFlightBadSelfLoop = 32;
constexpr int kFlightBadShared = 64;
pid_t start_flight_victim(const std::string& dir);

// CRIU's zdtm scm06 seed: a datagram socketpair, the ends bound to the abstract
// names "\0\0" and "\0\1" (`salt` appended, so that concurrent victims do not
// collide), each end sent to both through SCM_RIGHTS. On SIGUSR1 it receives
// three sockets in a chain (ska[0], then what it got...) and checks each name
// with getsockname. Exit: kVictimOk, kScmBadRecv or kScmBadName.
constexpr int kScmBadRecv = 1;
constexpr int kScmBadName = 2;
pid_t start_scm06_victim(const std::string& salt);

// Three datagram sockets bound to abstract names in a ring (each queued in the
// next one), only the first kept as an fd: the other two exist only in flight.
// On SIGUSR1 it walks the ring (recv -> socket -> recv...) back to the first and
// checks every name and that the last one received is the first one itself.
pid_t start_scm_ring_victim(const std::string& salt);

// A datagram socket bound to an abstract name queued in itself (twice), and
// kept as an fd. On SIGUSR1 it receives both copies, checks they are the socket
// itself (same inode, name) and that it still receives.
pid_t start_scm_selfloop_victim(const std::string& salt);

}  // namespace flakelab::victims
