// AF_UNIX sockets, restore side: every socket object is created in the restorer
// (bind, listen, socketpair/connect/accept to get names and peers right), then
// every queued message is sent again, with its SCM_RIGHTS, in the saved order.
// The dump side is unix_collector.h.
#pragma once

#include <vector>

#include "flakelab/base/unique_fd.h"
#include "flakelab/engine/image.h"
#include "flakelab/engine/restore_options.h"

namespace flakelab::engine {

// Creates every socket of `p` into open_files[i] (at numbers >= min_fd), with
// names, peers, pending connections, queues and files in flight; call after
// every other file of `p` is in open_files. Throws EngineError; a failed restore
// leaves no socket file behind.
void restore_unix_sockets(const pb::Process& p, std::vector<base::UniqueFd>& open_files, int min_fd,
                          const RestoreOptions& options, RestoreStats* stats);

}  // namespace flakelab::engine
