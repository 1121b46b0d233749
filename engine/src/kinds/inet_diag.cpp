#include "inet_diag.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "flakelab/base/unique_fd.h"
#include "flakelab/engine/error.h"

namespace flakelab::engine {

std::optional<InetDiag> inet_diag_find(uint8_t family, uint8_t protocol, uint64_t ino) {
  const std::string what = "sock_diag dump of protocol " + std::to_string(protocol) + " family " +
                           std::to_string(family) + " (looking for socket inode " + std::to_string(ino) + ")";
  base::UniqueFd nl(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!nl) throw_errno(what + ": socket(NETLINK_SOCK_DIAG)");
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } request{};
  request.nlh.nlmsg_len = sizeof(request);
  request.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  request.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.req.sdiag_family = family;
  request.req.sdiag_protocol = protocol;
  request.req.idiag_states = ~0u;
  if (send(nl.get(), &request, sizeof(request), 0) != static_cast<ssize_t>(sizeof(request))) throw_errno(what + ": send");
  std::optional<InetDiag> found;
  alignas(nlmsghdr) char buf[32768];
  for (;;) {
    ssize_t n = recv(nl.get(), buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(what + ": recv");
    }
    if (n == 0) throw EngineError(what + ": the kernel closed the answer early");
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, static_cast<unsigned>(n)); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) return found;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        throw_errno(what, -e->error);
      }
      const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (m->idiag_inode != ino) continue;
      InetDiag d;
      d.state = m->idiag_state;
      d.rqueue = m->idiag_rqueue;
      d.wqueue = m->idiag_wqueue;
      int len = static_cast<int>(h->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof(*m)));
      auto* a = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(m) + NLMSG_ALIGN(sizeof(*m)));
      while (len >= static_cast<int>(sizeof(nlattr)) && a->nla_len >= sizeof(nlattr) && a->nla_len <= len) {
        if (a->nla_type == INET_DIAG_SHUTDOWN && a->nla_len > NLA_HDRLEN)
          d.shutdown = static_cast<uint8_t>(*(reinterpret_cast<const char*>(a) + NLA_HDRLEN));
        int step = static_cast<int>(NLA_ALIGN(a->nla_len));
        len -= step;
        a = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(a) + step);
      }
      found = d;
    }
  }
}

}  // namespace flakelab::engine
