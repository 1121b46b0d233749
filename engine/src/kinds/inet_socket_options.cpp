#include "inet_socket_options.h"

#include <netinet/udp.h>
#include <linux/icmp.h>
#include <linux/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

namespace flakelab::engine {

#ifndef SO_BUF_LOCK
#define SO_BUF_LOCK 72  // Linux 5.14; older libc headers lack it
#endif

#define FLAKELAB_INT_OPT(level, name) SockOptSpec{level, name, #name, sizeof(int)}
#define FLAKELAB_DGRAM_OPT(level, name) SockOptSpec{level, name, #name, sizeof(int), true}

const std::vector<SockOptSpec>& inet_socket_options() {
  static const std::vector<SockOptSpec> all = {
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_REUSEADDR),
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_REUSEPORT),
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_BROADCAST),
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_KEEPALIVE),
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_OOBINLINE),
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_DONTROUTE),
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_NO_CHECK),
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_MARK),
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_RCVBUF),  // restored with SO_RCVBUFFORCE (half: the kernel doubles it)
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_SNDBUF),
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_BUF_LOCK),  // after the buffers: setting one locks it
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_RCVLOWAT),
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_TIMESTAMP),
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_TIMESTAMPNS),
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_PASSCRED),
      SockOptSpec{SOL_SOCKET, SO_LINGER, "SO_LINGER", sizeof(struct linger)},
      SockOptSpec{SOL_SOCKET, SO_RCVTIMEO, "SO_RCVTIMEO", sizeof(struct timeval)},
      SockOptSpec{SOL_SOCKET, SO_SNDTIMEO, "SO_SNDTIMEO", sizeof(struct timeval)},
      SockOptSpec{SOL_SOCKET, SO_BINDTODEVICE, "SO_BINDTODEVICE", IFNAMSIZ},
      FLAKELAB_INT_OPT(SOL_IP, IP_TOS),
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_PRIORITY),  // after IP_TOS, which may set it too
      FLAKELAB_INT_OPT(SOL_IP, IP_TTL),
      FLAKELAB_INT_OPT(SOL_IP, IP_FREEBIND),
      FLAKELAB_INT_OPT(SOL_IP, IP_TRANSPARENT),
      FLAKELAB_INT_OPT(SOL_IP, IP_RECVERR),
      FLAKELAB_INT_OPT(SOL_IP, IP_PKTINFO),
      FLAKELAB_INT_OPT(SOL_IP, IP_RECVTTL),
      FLAKELAB_INT_OPT(SOL_IP, IP_RECVTOS),
      FLAKELAB_INT_OPT(SOL_IP, IP_MTU_DISCOVER),
      FLAKELAB_DGRAM_OPT(SOL_IP, IP_MULTICAST_TTL),
      FLAKELAB_DGRAM_OPT(SOL_IP, IP_MULTICAST_LOOP),
      FLAKELAB_DGRAM_OPT(SOL_IP, IP_MULTICAST_ALL),
      FLAKELAB_INT_OPT(SOL_IP, IP_BIND_ADDRESS_NO_PORT),
      FLAKELAB_INT_OPT(SOL_IP, IP_HDRINCL),  // raw sockets
      FLAKELAB_INT_OPT(SOL_IP, IP_NODEFRAG),
      SockOptSpec{SOL_RAW, ICMP_FILTER, "ICMP_FILTER", sizeof(icmp_filter)},
      FLAKELAB_INT_OPT(SOL_IPV6, IPV6_CHECKSUM),
      SockOptSpec{SOL_ICMPV6, ICMP6_FILTER, "ICMP6_FILTER", sizeof(icmp6_filter)},
      FLAKELAB_INT_OPT(SOL_IPV6, IPV6_V6ONLY),  // before bind(): it decides which addresses the port takes
      FLAKELAB_INT_OPT(SOL_IPV6, IPV6_UNICAST_HOPS),
      FLAKELAB_DGRAM_OPT(SOL_IPV6, IPV6_MULTICAST_HOPS),
      FLAKELAB_DGRAM_OPT(SOL_IPV6, IPV6_MULTICAST_LOOP),
      FLAKELAB_INT_OPT(SOL_IPV6, IPV6_TCLASS),
      FLAKELAB_INT_OPT(SOL_IPV6, IPV6_RECVPKTINFO),
      FLAKELAB_INT_OPT(SOL_IPV6, IPV6_RECVHOPLIMIT),
      FLAKELAB_INT_OPT(SOL_IPV6, IPV6_RECVTCLASS),
      FLAKELAB_INT_OPT(SOL_IPV6, IPV6_RECVERR),
      FLAKELAB_INT_OPT(SOL_IPV6, IPV6_MTU_DISCOVER),
      FLAKELAB_INT_OPT(SOL_IPV6, IPV6_FREEBIND),
      FLAKELAB_INT_OPT(SOL_IPV6, IPV6_TRANSPARENT),
      FLAKELAB_INT_OPT(SOL_TCP, TCP_NODELAY),
      FLAKELAB_INT_OPT(SOL_TCP, TCP_CORK),
      FLAKELAB_INT_OPT(SOL_TCP, TCP_KEEPIDLE),
      FLAKELAB_INT_OPT(SOL_TCP, TCP_KEEPINTVL),
      FLAKELAB_INT_OPT(SOL_TCP, TCP_KEEPCNT),
      FLAKELAB_INT_OPT(SOL_TCP, TCP_SYNCNT),
      FLAKELAB_INT_OPT(SOL_TCP, TCP_LINGER2),
      FLAKELAB_INT_OPT(SOL_TCP, TCP_USER_TIMEOUT),
      FLAKELAB_INT_OPT(SOL_TCP, TCP_DEFER_ACCEPT),
      FLAKELAB_INT_OPT(SOL_TCP, TCP_WINDOW_CLAMP),
      FLAKELAB_INT_OPT(SOL_TCP, TCP_NOTSENT_LOWAT),
      FLAKELAB_INT_OPT(SOL_TCP, TCP_FASTOPEN),
      SockOptSpec{SOL_TCP, TCP_CONGESTION, "TCP_CONGESTION", 16},
      FLAKELAB_INT_OPT(SOL_UDP, UDP_CORK),
      FLAKELAB_INT_OPT(SOL_UDP, UDP_SEGMENT),
      FLAKELAB_INT_OPT(SOL_SOCKET, SO_LOCK_FILTER),  // last: restore attaches the filter before the options
  };
  return all;
}

#undef FLAKELAB_INT_OPT
#undef FLAKELAB_DGRAM_OPT

const SockOptSpec* find_inet_socket_option(uint32_t level, uint32_t name) {
  for (const auto& o : inet_socket_options())
    if (static_cast<uint32_t>(o.level) == level && static_cast<uint32_t>(o.name) == name) return &o;
  return nullptr;
}

}  // namespace flakelab::engine
