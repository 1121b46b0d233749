#include "flakelab/base/unix_diag.h"

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "flakelab/base/os_error.h"

namespace flakelab::base {
namespace {

constexpr uint32_t kShow = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN;

UnixDiag parse(const nlmsghdr* h) {
  const auto* m = static_cast<const unix_diag_msg*>(NLMSG_DATA(h));
  UnixDiag d;
  d.ino = m->udiag_ino;
  d.type = m->udiag_type;
  d.state = m->udiag_state;
  int len = static_cast<int>(h->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof(*m)));
  auto* a = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(m) + NLMSG_ALIGN(sizeof(*m)));
  while (len >= static_cast<int>(sizeof(nlattr)) && a->nla_len >= sizeof(nlattr) && a->nla_len <= len) {
    const char* data = reinterpret_cast<const char*>(a) + NLA_HDRLEN;
    size_t n = a->nla_len - NLA_HDRLEN;
    switch (a->nla_type) {
      case UNIX_DIAG_NAME:
        d.named = n > 0;
        d.name.assign(data, n);
        // A path name comes with its terminating NUL; an abstract one is exact.
        if (!d.name.empty() && d.name[0] != '\0') d.name = d.name.substr(0, strnlen(d.name.data(), d.name.size()));
        break;
      case UNIX_DIAG_VFS:
        if (n >= sizeof(unix_diag_vfs)) {
          unix_diag_vfs v;
          std::memcpy(&v, data, sizeof(v));
          d.has_vfs = true;
          d.vfs_ino = v.udiag_vfs_ino;
          d.vfs_dev = v.udiag_vfs_dev;
        }
        break;
      case UNIX_DIAG_PEER:
        if (n >= 4) std::memcpy(&d.peer, data, 4);
        break;
      case UNIX_DIAG_ICONS:
        for (size_t i = 0; i + 4 <= n; i += 4) {
          uint32_t ino;
          std::memcpy(&ino, data + i, 4);
          d.icons.push_back(ino);
        }
        break;
      case UNIX_DIAG_RQLEN:
        if (n >= sizeof(unix_diag_rqlen)) {
          unix_diag_rqlen q;
          std::memcpy(&q, data, sizeof(q));
          d.rqueue = q.udiag_rqueue;
          d.wqueue = q.udiag_wqueue;
        }
        break;
      case UNIX_DIAG_SHUTDOWN:
        if (n >= 1) d.shutdown = static_cast<uint8_t>(data[0]);
        break;
      default:
        break;
    }
    int step = static_cast<int>(NLA_ALIGN(a->nla_len));
    len -= step;
    a = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(a) + step);
  }
  return d;
}

// Asks `nl` about socket `ino` (or all of them) with the attributes `show`, and hands
// every reply message to `each` until done. Returns the netlink error (0 if none).
template <typename Fn>
int query(int nl, uint32_t ino, bool dump, uint32_t show, Fn each) {
  struct {
    nlmsghdr h;
    unix_diag_req r;
  } req{};
  req.h.nlmsg_len = sizeof(req);
  req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.h.nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0));
  req.h.nlmsg_seq = 1;
  req.r.sdiag_family = AF_UNIX;
  req.r.udiag_states = ~0u;
  req.r.udiag_ino = ino;
  req.r.udiag_show = show;
  req.r.udiag_cookie[0] = req.r.udiag_cookie[1] = ~0u;  // INET_DIAG_NOCOOKIE: any
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(nl, &req, sizeof(req), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) != sizeof(req))
    throw_os_error("sock_diag: send request", errno);
  alignas(nlmsghdr) static thread_local char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::recv(nl, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_os_error("sock_diag: recv", errno);
    if (n == 0) return 0;
    int left = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        return -e->error;
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
      each(parse(h));
      if (!dump) return 0;
    }
  }
}

}  // namespace

UniqueFd open_sock_diag() {
  UniqueFd nl(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!nl) throw_os_error("socket(NETLINK_SOCK_DIAG)", errno);
  return nl;
}

std::map<uint32_t, UnixDiag> unix_diag_all() {
  std::map<uint32_t, UnixDiag> out;
  if (int err = query(open_sock_diag().get(), 0, true, kShow, [&](UnixDiag d) { out.emplace(d.ino, std::move(d)); });
      err != 0)
    throw_os_error("sock_diag: dump AF_UNIX sockets", err);
  return out;
}

std::optional<UnixDiag> unix_diag_one(uint32_t ino) {
  std::optional<UnixDiag> out;
  int err = query(open_sock_diag().get(), ino, false, kShow, [&](UnixDiag d) { out = std::move(d); });
  if (err == ENOENT) return std::nullopt;
  if (err != 0) throw_os_error("sock_diag: AF_UNIX socket inode " + std::to_string(ino), err);
  return out;
}

std::vector<uint32_t> unix_socket_inodes(int sock_diag) {
  std::vector<uint32_t> out;
  if (int err = query(sock_diag, 0, true, 0, [&](const UnixDiag& d) { out.push_back(d.ino); }); err != 0)
    throw_os_error("sock_diag: dump AF_UNIX sockets", err);
  return out;
}

}  // namespace flakelab::base
