// A self-checking victim for AF_INET/AF_INET6 sockets that carry no connection
// (kinds/inet_socket.cpp): a forked child of the caller that sets them up, sleeps
// in pause(), and on SIGUSR1 verifies them and exits with kVictimOk (victims.h)
// or a bitmask of what was damaged. Throws std::runtime_error if it cannot start.
#pragma once

#include <sys/types.h>

namespace flakelab::victims {

// Every port is chosen by the kernel (bind to port 0), so victims run side by side:
// - UDP 127.0.0.1 "server" with SO_REUSEADDR, SO_BROADCAST, SO_RCVBUF, SO_PRIORITY,
//   SO_MARK, IP_TOS, IP_TTL, SO_TIMESTAMP, O_NONBLOCK, and a locked classic BPF
//   socket filter;
// - UDP "client" connected to it without bind() (its port picked by connect), bound
//   to device "lo";
// - UDP6 [::1] with IPV6_V6ONLY and IPV6_UNICAST_HOPS, and a dual-stack UDP6 socket
//   on [::] (IPV6_V6ONLY off) that the IPv4 client reaches through 127.0.0.1;
// - UDP connected to the server that did shutdown(SHUT_WR), one that did
//   shutdown(SHUT_RD), a UDP socket never bound;
// - TCP listening on 127.0.0.1 (backlog 7, SO_REUSEPORT, TCP_NODELAY, SO_KEEPALIVE,
//   TCP_KEEPIDLE 77, TCP_DEFER_ACCEPT, SO_LINGER), TCP6 listening on [::1], TCP
//   bound to 127.0.0.1 but neither listening nor connected, TCP never bound;
// - a raw socket of protocol 253 bound to 127.0.0.1 with IP_TTL and IP_FREEBIND.
// On SIGUSR1 it checks every address and option, exchanges datagrams both ways
// (sender addresses included), the shut-down directions, connects to both
// listeners and accepts, and listens on the bound TCP socket at its port.
constexpr int kInetBadNames = 1;     // getsockname/getpeername
constexpr int kInetBadOptions = 2;   // socket options or O_NONBLOCK
constexpr int kInetBadDatagrams = 4; // datagrams no longer arrive, or from the wrong address
constexpr int kInetBadShutdown = 8;  // a shut-down direction works again, or the other stopped
constexpr int kInetBadListen = 16;   // a listener no longer accepts, or its backlog changed
constexpr int kInetBadUnbound = 32;  // the never-bound or bound-only sockets
pid_t start_inet_socket_victim();

}  // namespace flakelab::victims
