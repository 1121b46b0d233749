// A self-checking victim for AF_NETLINK sockets (kinds/netlink_socket.cpp): a
// forked child of the caller that sets them up, sleeps in pause(), and on SIGUSR1
// verifies them and exits with kVictimOk (victims.h) or a bitmask of what was
// damaged. Throws std::runtime_error if it cannot start.
#pragma once

#include <sys/types.h>

namespace flakelab::victims {

// - a NETLINK_ROUTE socket bound to a port id the kernel chose, in groups 27 and
//   33 (MPLS routes and bridge VLANs: nothing on a test machine sends to them),
//   with NETLINK_EXT_ACK and SO_RCVBUF set;
// - a NETLINK_GENERIC socket never bound, and a NETLINK_SOCK_DIAG socket.
// On SIGUSR1 it checks port ids, memberships and options, and that the route and
// sock_diag sockets still answer a request (RTM_GETLINK, a unix socket dump).
constexpr int kNetlinkBadNames = 1;    // port ids
constexpr int kNetlinkBadGroups = 2;   // memberships
constexpr int kNetlinkBadOptions = 4;  // options
constexpr int kNetlinkBadTalk = 8;     // a request got no answer
pid_t start_netlink_socket_victim();

}  // namespace flakelab::victims
