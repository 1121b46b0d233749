#include "flakelab/base/scm_rights.h"

#include <cerrno>
#include <cstring>

namespace flakelab::base {

RightsToSend::RightsToSend(std::span<const int> fds) : fds_(fds.begin(), fds.end()) {
  if (fds_.empty()) return;
  size_t bytes = CMSG_SPACE(sizeof(int) * fds_.size());
  control_.assign((bytes + sizeof(cmsghdr) - 1) / sizeof(cmsghdr), cmsghdr{});
}

void RightsToSend::attach(msghdr& m) {
  if (fds_.empty()) {
    m.msg_control = nullptr;
    m.msg_controllen = 0;
    return;
  }
  m.msg_control = control_.data();
  m.msg_controllen = CMSG_SPACE(sizeof(int) * fds_.size());
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds_.size());
  std::memcpy(CMSG_DATA(c), fds_.data(), sizeof(int) * fds_.size());
}

ssize_t send_with_rights(int socket, const void* data, size_t size, std::span<const int> fds, int flags) {
  RightsToSend rights(fds);
  iovec iov{const_cast<void*>(data), size};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  rights.attach(m);
  for (;;) {
    ssize_t n = ::sendmsg(socket, &m, flags);
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

ReceiveHeader::ReceiveHeader(void* data, size_t size, void* control, size_t control_size, sockaddr_un* from)
    : iov_{data, size} {
  header_.msg_iov = &iov_;
  header_.msg_iovlen = 1;
  header_.msg_control = control;
  header_.msg_controllen = control_size;
  if (from) {
    header_.msg_name = from;
    header_.msg_namelen = sizeof(*from);
  }
}

ReceivedRights take_rights(const msghdr& m) {
  ReceivedRights out;
  out.control_truncated = (m.msg_flags & MSG_CTRUNC) != 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&m), c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      out.fds.emplace_back(fd);
    }
  }
  return out;
}

}  // namespace flakelab::base
