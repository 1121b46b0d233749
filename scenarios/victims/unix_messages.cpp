#include "unix_messages.h"

#include <cstddef>
#include <cstring>

#include "flakelab/base/scm_rights.h"

namespace flakelab::victims {

sockaddr_un addr_of(const std::string& name, socklen_t& len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, name.data(), name.size());
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (name[0] == '\0' ? 0 : 1));
  return a;
}

std::string from_addr(const sockaddr_un& a, socklen_t len) {
  if (len <= offsetof(sockaddr_un, sun_path)) return "";
  std::string n(a.sun_path, len - offsetof(sockaddr_un, sun_path));
  if (!n.empty() && n[0] != '\0') n = n.substr(0, strnlen(n.data(), n.size()));
  return n;
}

bool send_with(int via, const std::string& data, const std::vector<int>& fds, const std::string* to) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr h{};
  sockaddr_un a;
  socklen_t len = 0;
  if (to) {
    a = addr_of(*to, len);
    h.msg_name = &a;
    h.msg_namelen = len;
  }
  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  base::RightsToSend rights(fds);
  rights.attach(h);
  return sendmsg(via, &h, MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
}


Got recv_with(int via, size_t max, int flags) {
  Got g;
  std::vector<char> buf(max);
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 16)];
  sockaddr_un from{};
  base::ReceiveHeader header(buf.data(), buf.size(), control, sizeof(control), &from);
  const msghdr& h = header.header();
  ssize_t n = recvmsg(via, header.get(), flags);
  if (n < 0) return g;
  g.ok = true;
  g.data.assign(buf.data(), static_cast<size_t>(n));
  g.from = from_addr(from, h.msg_namelen);
  g.truncated = h.msg_flags & (MSG_TRUNC | MSG_CTRUNC);
  for (auto& fd : base::take_rights(h).fds) g.fds.push_back(fd.release());  // the caller closes them
  return g;
}

}  // namespace flakelab::victims
