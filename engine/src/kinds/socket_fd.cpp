#include "socket_fd.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace flakelab::engine {

bool in_our_netns(pid_t pid) {
  struct stat theirs, ours;
  if (::stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &theirs) != 0) return false;
  if (::stat("/proc/self/ns/net", &ours) != 0) return false;
  return theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev;
}

base::UniqueFd socket_copy(pid_t pid, int fd) {
  base::UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) return {};
  return base::UniqueFd(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), fd, 0)));
}

std::optional<int> socket_int_option(int s, int name) {
  int v = 0;
  socklen_t len = sizeof(v);
  if (getsockopt(s, SOL_SOCKET, name, &v, &len) != 0) return std::nullopt;
  return v;
}

std::string socket_family_name(int family) {
  switch (family) {
    case AF_UNIX: return "AF_UNIX";
    case AF_INET: return "AF_INET";
    case AF_INET6: return "AF_INET6";
    case AF_NETLINK: return "AF_NETLINK";
    case AF_PACKET: return "AF_PACKET";
    case AF_ALG: return "AF_ALG";
    case AF_VSOCK: return "AF_VSOCK";
    case AF_KEY: return "AF_KEY";
    case AF_TIPC: return "AF_TIPC";
    case AF_BLUETOOTH: return "AF_BLUETOOTH";
    case AF_XDP: return "AF_XDP";
    default: return "address family " + std::to_string(family);
  }
}

}  // namespace flakelab::engine
