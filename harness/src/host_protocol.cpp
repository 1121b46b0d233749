#include "host_protocol.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <span>

#include "flakelab/base/scm_rights.h"

namespace flakelab::harness {

bool send_message(int socket, const void* bytes, size_t size, int fd) {
  std::span<const int> fds = fd >= 0 ? std::span<const int>(&fd, 1) : std::span<const int>();
  return base::send_with_rights(socket, bytes, size, fds, MSG_NOSIGNAL) == static_cast<ssize_t>(size);
}

ssize_t receive_message(int socket, void* buffer, size_t size, base::UniqueFd& fd) {
  iovec iov{buffer, size};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return n;
  base::ReceivedRights rights = base::take_rights(msg);
  if (!rights.fds.empty()) fd = std::move(rights.fds.back());
  if ((msg.msg_flags & MSG_TRUNC) != 0 || rights.control_truncated) {
    errno = EMSGSIZE;
    return -1;
  }
  return n;
}

}  // namespace flakelab::harness
