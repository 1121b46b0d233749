// sock_diag (NETLINK_SOCK_DIAG, INET_DIAG) for one AF_INET/AF_INET6 UDP socket of
// the caller's network namespace: what getsockopt() cannot tell, its shutdown
// state and the bytes queued in it, without touching the socket.
#pragma once

#include <cstdint>
#include <optional>

namespace flakelab::engine {

struct InetDiag {
  uint8_t state = 0;     // TCP_* (TCP_CLOSE for an unconnected datagram socket)
  uint8_t shutdown = 0;  // RCV_SHUTDOWN 1 | SEND_SHUTDOWN 2
  uint32_t rqueue = 0;   // UDP: receive memory in use (0: no datagram queued)
  uint32_t wqueue = 0;   // UDP: send memory in use (corked or not yet sent)
};

// The socket with inode `ino` among the `protocol` sockets of `family`, or nothing
// if the kernel does not list it (an unbound UDP socket is in no table). Throws
// EngineError naming the request.
std::optional<InetDiag> inet_diag_find(uint8_t family, uint8_t protocol, uint64_t ino);

}  // namespace flakelab::engine
