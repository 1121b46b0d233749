// Open files of a process: what dump records and restore reopens (the kinds of
// file supported: engine/README.md, "What survives"). fds that share an open file
// description (dup) share one pb::File.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "flakelab/compel/unique_fd.h"
#include "flakelab/engine/image.h"

namespace flakelab::engine {

// Reads the fd table from /proc without touching the process. Returns a message
// naming the first unsupported fd, or "" (then `out`, if given, is filled).
// `tree`: the other processes dumped with it (pipes and FIFOs they hold too are
// not "held elsewhere").
std::string collect_files(pid_t pid, pb::Process* out, const std::vector<pid_t>& tree = {});

// The restorer's copies of the image's open files, one per pb::File, each at an fd
// number >= `min_fd` so that placing them at the saved numbers in the target never
// overwrites one that is still needed. Throws EngineError naming the path.
std::vector<compel::UniqueFd> reopen_files(const pb::Process& p, int min_fd);

}  // namespace flakelab::engine
