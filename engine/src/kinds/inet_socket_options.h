// The socket options an AF_INET/AF_INET6 socket's record may carry (pb::SockOpt),
// said once: dump reads these, the validator accepts only these, restore sets
// them in this order (IP_TOS before SO_PRIORITY: setting the TOS also sets the
// priority on some kernels). Part of flakelab_engine_image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace flakelab::engine {

struct SockOptSpec {
  int level;
  int name;
  const char* label;  // "SO_REUSEADDR", how errors and `show` name it
  size_t max_size;    // largest value getsockopt() returns for it
  // Multicast options: TCP refuses to set them, and an accepted socket shows the
  // TTL of its SYN as its multicast TTL; they are kept for datagram and raw sockets only.
  bool datagram_only = false;
};

const std::vector<SockOptSpec>& inet_socket_options();
// The listed option, or nullptr.
const SockOptSpec* find_inet_socket_option(uint32_t level, uint32_t name);

}  // namespace flakelab::engine
