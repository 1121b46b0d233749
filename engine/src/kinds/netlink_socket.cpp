// An AF_NETLINK socket (route, sock_diag, generic, uevent...): its port id,
// multicast groups, destination and options, read from our own copy
// (getsockname, getpeername, NETLINK_LIST_MEMBERSHIPS, getsockopt); restore
// creates it anew in the engine's network namespace (socket, options, bind to
// the same port id, each group, connect). A socket with messages queued to read
// (a reply or an event not read yet) is refused: they are not restored.
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>

#include "../anon_files.h"
#include "flakelab/engine/error.h"
#include "netlink_socket_options.h"
#include "socket_fd.h"
#include "socket_options_io.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace flakelab::engine {
namespace {

class NetlinkSocketKind : public AnonInodeKind {
 public:
  NetlinkSocketKind() : AnonInodeKind(pb::FILE_NETLINK_SOCKET, "socket:[netlink]") {}

  bool matches(const FdProbe& fd) const override {
    if (fd.link.rfind("socket:[", 0) != 0) return false;
    base::UniqueFd s = socket_copy(fd.pid, fd.fd);
    std::optional<int> family = s ? socket_int_option(s.get(), SO_DOMAIN) : std::nullopt;
    return family && *family == AF_NETLINK;
  }

 protected:
  std::string record_state(const FdProbe& fd, bool, pb::File& f) const override {
    if (!in_our_netns(fd.pid))
      return "the process is in another network namespace; its sockets cannot be dumped from here";
    base::UniqueFd s = socket_copy(fd.pid, fd.fd);
    if (!s) return std::string("pidfd_getfd: ") + std::strerror(errno);
    auto type = socket_int_option(s.get(), SO_TYPE);
    auto protocol = socket_int_option(s.get(), SO_PROTOCOL);
    if (!type || !protocol) return std::string("getsockopt(SO_TYPE/SO_PROTOCOL): ") + std::strerror(errno);
    const std::string label = "AF_NETLINK socket of protocol " + std::to_string(*protocol);
    pollfd p{s.get(), POLLIN, 0};
    if (poll(&p, 1, 0) < 0) return label + ": poll: " + std::strerror(errno);
    if (p.revents & POLLIN)
      return label + " has messages queued to read; queued netlink messages are not restored, so it is refused";
    pb::NetlinkSocket& out = *f.mutable_netlink_socket();
    out.set_type(static_cast<uint32_t>(*type));
    out.set_protocol(static_cast<uint32_t>(*protocol));
    sockaddr_nl local{}, peer{};
    socklen_t len = sizeof(local);
    if (getsockname(s.get(), reinterpret_cast<sockaddr*>(&local), &len) != 0)
      return label + ": getsockname: " + std::strerror(errno);
    len = sizeof(peer);
    if (getpeername(s.get(), reinterpret_cast<sockaddr*>(&peer), &len) != 0)
      return label + ": getpeername: " + std::strerror(errno);
    out.set_port_id(local.nl_pid);
    out.set_dst_port_id(peer.nl_pid);
    out.set_dst_group(peer.nl_groups);
    uint32_t groups[32] = {};
    len = sizeof(groups);
    if (getsockopt(s.get(), SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, groups, &len) != 0)
      return label + ": getsockopt(NETLINK_LIST_MEMBERSHIPS): " + std::strerror(errno);
    if (len > sizeof(groups)) return label + " is in groups above 1024, which are not supported";
    size_t words = len / sizeof(uint32_t);
    while (words > 0 && groups[words - 1] == 0) --words;
    for (size_t i = 0; i < words; ++i) out.add_groups(groups[i]);
    base::UniqueFd fresh(socket(AF_NETLINK, *type | SOCK_CLOEXEC, *protocol));
    if (!fresh) return label + ": socket() for its default options: " + std::strerror(errno);
    record_socket_options(s.get(), fresh.get(), netlink_socket_options(), false, *out.mutable_options());
    return "";
  }

  base::UniqueFd create(const pb::File& f, const std::string& what_kind) const override {
    const pb::NetlinkSocket& r = f.netlink_socket();
    const std::string what = what_kind + " AF_NETLINK protocol " + std::to_string(r.protocol()) + " port " +
                             std::to_string(r.port_id());
    base::UniqueFd s(socket(AF_NETLINK, static_cast<int>(r.type()) | SOCK_CLOEXEC, static_cast<int>(r.protocol())));
    if (!s) throw_errno(what + ": socket");
    apply_socket_options(s.get(), r.options(), find_netlink_socket_option, what);
    if (r.port_id() != 0) {
      sockaddr_nl a{};
      a.nl_family = AF_NETLINK;
      a.nl_pid = r.port_id();
      if (bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) throw_errno(what + ": bind");
    }
    for (int w = 0; w < r.groups_size(); ++w)
      for (int bit = 0; bit < 32; ++bit) {
        if (!(r.groups(w) & (1u << bit))) continue;
        int group = w * 32 + bit + 1;
        if (setsockopt(s.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) != 0)
          throw_errno(what + ": NETLINK_ADD_MEMBERSHIP " + std::to_string(group));
      }
    if (r.dst_port_id() != 0 || r.dst_group() != 0) {
      sockaddr_nl a{};
      a.nl_family = AF_NETLINK;
      a.nl_pid = r.dst_port_id();
      a.nl_groups = r.dst_group();
      if (connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) throw_errno(what + ": connect");
    }
    return s;
  }
};

}  // namespace

const FileKindModule& netlink_socket_kind() {
  static const NetlinkSocketKind kind;
  return kind;
}

}  // namespace flakelab::engine
