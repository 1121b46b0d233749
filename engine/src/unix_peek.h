// Reading a unix socket's receive queue without consuming it (the dump's copy of
// the socket, MSG_PEEK from a walking SO_PEEK_OFF), with the files in flight that
// MSG_PEEK hands over as SCM_RIGHTS copies.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flakelab/base/unique_fd.h"

namespace flakelab::engine::unix_detail {

// One queued message (a datagram or record; for a stream, a chunk between files).
struct Peeked {
  std::string data;
  std::string sender;
  bool named_sender = false;
  std::vector<base::UniqueFd> fds;
};

// Reads the receive queue of `s` (our copy) without consuming it: MSG_PEEK from
// a peek offset that walks the queue; the socket's own offset is put back.
// `where` names the socket in errors (EngineError).
std::vector<Peeked> peek_queue(int s, uint32_t type, const std::string& where);

}  // namespace flakelab::engine::unix_detail
