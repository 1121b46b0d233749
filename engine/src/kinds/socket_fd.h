// What the socket kinds (unix_socket.cpp, inet_socket.cpp) need of a socket fd
// of another process: whether its network namespace is ours (restore recreates
// sockets in the engine's), and our own copy of it to ask getsockopt() and
// friends (pidfd_getfd: the same socket, nothing consumed).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "flakelab/base/unique_fd.h"

namespace flakelab::engine {

// Whether process `pid` is in the engine's network namespace.
bool in_our_netns(pid_t pid);
// Our copy of fd `fd` of `pid`; an empty fd and errno if it cannot be had (the fd
// was closed meanwhile, no permission).
base::UniqueFd socket_copy(pid_t pid, int fd);
// getsockopt(SOL_SOCKET, `name`) as an int (SO_DOMAIN, SO_TYPE, SO_PROTOCOL); nothing on error.
std::optional<int> socket_int_option(int s, int name);
// "AF_NETLINK", "AF_PACKET", ..., or "address family N".
std::string socket_family_name(int family);

}  // namespace flakelab::engine
