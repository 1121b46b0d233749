// The socket options an AF_NETLINK socket's record may carry (pb::SockOpt), said
// once for dump, the validator and restore. Part of flakelab_engine_image.
#pragma once

#include <cstdint>
#include <vector>

#include "inet_socket_options.h"

namespace flakelab::engine {

const std::vector<SockOptSpec>& netlink_socket_options();
const SockOptSpec* find_netlink_socket_option(uint32_t level, uint32_t name);

}  // namespace flakelab::engine
