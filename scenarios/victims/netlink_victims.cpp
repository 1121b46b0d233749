#include "flakelab/victims/netlink_victims.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "flakelab/victims/victims.h"
#include "settle.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace flakelab::victims {
namespace {

uint32_t port_id(int s) {
  sockaddr_nl a{};
  socklen_t len = sizeof(a);
  return getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0 ? a.nl_pid : ~0u;
}
std::vector<uint32_t> groups(int s) {
  std::vector<uint32_t> g(4);
  socklen_t len = static_cast<socklen_t>(g.size() * sizeof(uint32_t));
  if (getsockopt(s, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, g.data(), &len) != 0) return {};
  return g;
}
int get_int(int s, int level, int name) {
  int v = -1;
  socklen_t len = sizeof(v);
  return getsockopt(s, level, name, &v, &len) == 0 ? v : -1;
}

// Sends `request` (a netlink header and `body`) and reads one answer of `type`
// or NLMSG_DONE within its receive timeout.
template <class Body>
bool answers(int s, uint16_t type, const Body& body) {
  struct {
    nlmsghdr h;
    Body b;
  } req{};
  req.h.nlmsg_len = sizeof(req);
  req.h.nlmsg_type = type;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.h.nlmsg_seq = 7;
  req.b = body;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(s, &req, sizeof(req), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) != sizeof(req)) return false;
  alignas(nlmsghdr) char buf[32768];
  ssize_t n = recv(s, buf, sizeof(buf), 0);
  if (n < static_cast<ssize_t>(sizeof(nlmsghdr))) return false;
  auto* h = reinterpret_cast<nlmsghdr*>(buf);
  bool ok = h->nlmsg_seq == 7 && h->nlmsg_type != NLMSG_ERROR;
  while (recv(s, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
  }  // the rest of the dump
  return ok;
}

[[noreturn]] void netlink_victim(int ready) {
  int route = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
  sockaddr_nl any{};
  any.nl_family = AF_NETLINK;  // nl_pid 0: the kernel picks the port id
  int on = 1, g27 = 27, g33 = 33, rcvbuf = 40000;
  if (route < 0 || bind(route, reinterpret_cast<sockaddr*>(&any), sizeof(any)) != 0 ||
      setsockopt(route, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g27, sizeof(g27)) != 0 ||
      setsockopt(route, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g33, sizeof(g33)) != 0 ||
      setsockopt(route, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof(on)) != 0 ||
      setsockopt(route, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) != 0)
    _exit(102);
  int generic = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_GENERIC);
  int diag = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_SOCK_DIAG);
  if (generic < 0 || diag < 0) _exit(103);
  const uint32_t route_port = port_id(route), diag_port = port_id(diag);
  const std::vector<uint32_t> route_groups = groups(route);
  const int route_rcvbuf = get_int(route, SOL_SOCKET, SO_RCVBUF);
  settle_and_wait(ready, {route, generic, diag});

  int bad = 0;
  if (port_id(route) != route_port || route_port == 0 || port_id(generic) != 0 || port_id(diag) != diag_port)
    bad |= kNetlinkBadNames;
  if (groups(route) != route_groups || route_groups.at(0) != (1u << 26) || route_groups.at(1) != 1u) bad |= kNetlinkBadGroups;
  if (get_int(route, SOL_NETLINK, NETLINK_EXT_ACK) != 1 || get_int(route, SOL_SOCKET, SO_RCVBUF) != route_rcvbuf ||
      get_int(generic, SOL_SOCKET, SO_PROTOCOL) != NETLINK_GENERIC || get_int(diag, SOL_SOCKET, SO_TYPE) != SOCK_DGRAM)
    bad |= kNetlinkBadOptions;
  timeval second{1, 0};
  setsockopt(route, SOL_SOCKET, SO_RCVTIMEO, &second, sizeof(second));
  setsockopt(diag, SOL_SOCKET, SO_RCVTIMEO, &second, sizeof(second));
  ifinfomsg link{};
  unix_diag_req unix_req{};
  unix_req.sdiag_family = AF_UNIX;
  unix_req.udiag_states = ~0u;
  if (!answers(route, RTM_GETLINK, link) || !answers(diag, SOCK_DIAG_BY_FAMILY, unix_req)) bad |= kNetlinkBadTalk;
  _exit(bad);
}

}  // namespace

pid_t start_netlink_socket_victim() { return start_victim("netlink socket victim", netlink_victim); }

}  // namespace flakelab::victims
