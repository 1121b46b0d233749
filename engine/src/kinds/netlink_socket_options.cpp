#include "netlink_socket_options.h"

#include <linux/netlink.h>
#include <sys/socket.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace flakelab::engine {

#define FLAKELAB_INT_OPT(level, name) SockOptSpec{level, name, #name, sizeof(int)}

const std::vector<SockOptSpec>& netlink_socket_options() {
  static const std::vector<SockOptSpec> all = {
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_RCVBUF),  // restored with SO_RCVBUFFORCE (half: the kernel doubles it)
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_SNDBUF),
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_PASSCRED),
      FLAKELAB_INT_OPT(SOL_NETLINK, NETLINK_PKTINFO),
      FLAKELAB_INT_OPT(SOL_NETLINK, NETLINK_BROADCAST_ERROR),
      FLAKELAB_INT_OPT(SOL_NETLINK, NETLINK_NO_ENOBUFS),
      FLAKELAB_INT_OPT(SOL_NETLINK, NETLINK_LISTEN_ALL_NSID),
      FLAKELAB_INT_OPT(SOL_NETLINK, NETLINK_CAP_ACK),
      FLAKELAB_INT_OPT(SOL_NETLINK, NETLINK_EXT_ACK),
      FLAKELAB_INT_OPT(SOL_NETLINK, NETLINK_GET_STRICT_CHK),
  };
  return all;
}

#undef FLAKELAB_INT_OPT

const SockOptSpec* find_netlink_socket_option(uint32_t level, uint32_t name) {
  for (const auto& o : netlink_socket_options())
    if (static_cast<uint32_t>(o.level) == level && static_cast<uint32_t>(o.name) == name) return &o;
  return nullptr;
}

}  // namespace flakelab::engine
