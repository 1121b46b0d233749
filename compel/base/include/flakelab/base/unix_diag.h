// sock_diag (NETLINK_SOCK_DIAG, UNIX_DIAG) for AF_UNIX sockets of a network
// namespace: identity, type, state, name, peer, pending connections, queue
// lengths and shutdown state, without touching any socket. Errors are
// base::OsError naming the request.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "flakelab/base/unique_fd.h"

namespace flakelab::base {

struct UnixDiag {
  uint32_t ino = 0;
  uint8_t type = 0;          // SOCK_STREAM/DGRAM/SEQPACKET
  uint8_t state = 0;         // TCP_ESTABLISHED, TCP_CLOSE, TCP_LISTEN
  bool named = false;
  std::string name;          // sun_path bytes; path names without their trailing NUL
  uint32_t peer = 0;         // peer inode (0: none, or a peer without a socket: a pending connection)
  std::vector<uint32_t> icons;  // listeners: client inodes of pending connections, in accept order
  uint32_t rqueue = 0;       // listeners: pending connections; others: bytes queued to read
  uint32_t wqueue = 0;       // listeners: backlog; others: bytes this socket sent that are not read yet
  uint8_t shutdown = 0;      // RCV_SHUTDOWN 1 | SEND_SHUTDOWN 2
  bool has_vfs = false;      // bound to a path by this socket itself
  uint32_t vfs_ino = 0, vfs_dev = 0;
};

// Every AF_UNIX socket of the caller's network namespace, by inode.
std::map<uint32_t, UnixDiag> unix_diag_all();

// One socket by inode, or nothing if no AF_UNIX socket has it.
std::optional<UnixDiag> unix_diag_one(uint32_t ino);

// A sock_diag socket. It answers for the network namespace it was opened in, even after
// its opener moved to another one; keeping it open saves a socket() per question.
UniqueFd open_sock_diag();

// The inodes of every AF_UNIX socket in the network namespace of `sock_diag` (from
// open_sock_diag), asking for no attributes: the cheap "is any unix socket left here?".
std::vector<uint32_t> unix_socket_inodes(int sock_diag);

}  // namespace flakelab::base
