// What the unix socket collector (unix_collector.cpp) and builder
// (unix_builder.cpp) both speak: socket names as text and as addresses, socket
// options, and who holds a socket.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <string>

namespace flakelab::engine::unix_detail {

constexpr int kScmMaxFd = 253;  // SCM_MAX_FD

// "socket:[N]", as /proc/PID/fd shows a socket.
std::string ino_text(uint64_t ino);
// "stream", "dgram", "seqpacket".
const char* type_text(uint32_t type);
// getsockopt(SOL_SOCKET, opt) of an int; throws EngineError naming `what`.
int get_int_opt(int fd, int opt, const std::string& what);
// The address of a saved name (a path, or abstract with its leading NUL) and its length.
sockaddr_un make_addr(const std::string& name, socklen_t& len);
// "pid N fd M" of a process holding socket inode `ino`, or "". Scans /proc/*/fd.
std::string socket_holder(uint64_t ino);

}  // namespace flakelab::engine::unix_detail
