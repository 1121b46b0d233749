// Anonymous pipes: their unread bytes are copied at dump time without being
// consumed, and put back into a fresh pipe of the same capacity at restore.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>

#include "flakelab/base/unique_fd.h"
#include "flakelab/engine/image.h"

namespace flakelab::engine {

// Opens the pipe behind /proc/PID/fd/FD read-only (pipes reopen like FIFOs),
// tee()s its contents into a private pipe of the same capacity and reads them
// from there. The process's view of the pipe is unchanged.
pb::Pipe snapshot_pipe(pid_t pid, int fd, uint64_t id);

// A new pipe with the saved capacity and contents: {read end, write end}.
std::pair<base::UniqueFd, base::UniqueFd> recreate_pipe(const pb::Pipe& pipe, pid_t pid);

// Sets the capacity of an empty pipe or FIFO and writes `data` into it through
// `write_end` (pipes and FIFOs get their saved bytes back alike). Throws
// EngineError starting with `what`.
void refill_pipe(int write_end, uint32_t capacity, const std::string& data, const std::string& what);

}  // namespace flakelab::engine
