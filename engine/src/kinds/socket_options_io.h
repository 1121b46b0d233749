// Reading and setting a socket's listed options (pb::SockOpt), for the socket
// kinds whose records keep them (inet_socket.cpp, netlink_socket.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flakelab/engine/image.h"
#include "inet_socket_options.h"

namespace flakelab::engine {

// Appends to `out` each option of `specs` whose value on `s` differs from a new
// socket's (`fresh`); options `s` does not have (getsockopt fails) are left out,
// and with `stream` the datagram-only ones.
void record_socket_options(int s, int fresh, const std::vector<SockOptSpec>& specs, bool stream,
                           google::protobuf::RepeatedPtrField<pb::SockOpt>& out);

// Sets every option in order (buffers through SO_*BUFFORCE at half the value
// getsockopt showed), then reads each back: a value the kernel would not take
// throws EngineError naming `what` and the option (`find` names it; the image
// was validated, so it knows every option).
void apply_socket_options(int s, const google::protobuf::RepeatedPtrField<pb::SockOpt>& options,
                          const SockOptSpec* (*find)(uint32_t level, uint32_t name), const std::string& what);

}  // namespace flakelab::engine
