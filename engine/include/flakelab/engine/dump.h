// Checkpoint of one process into an Image.
//
// Supported so far: one single-threaded process with anonymous private and
// private file mappings, the vDSO/vvar pages, registers + XSTATE, signal mask,
// handlers, sigaltstack, itimers, rseq, robust list, cwd, umask, comm, rlimits,
// personality and mm fields, threads (tids, registers, masks, sigaltstack, rseq,
// robust list, clear_child_tid), shared file mappings, and fds on regular files,
// directories and character devices. Anything else (pipes, sockets, shared
// anonymous memory, unlinked files, pending signals) makes
// dump_process() throw EngineError naming it before the process is touched.
// Queued signals (per thread and process-wide, with their siginfo) are kept.
#pragma once

#include <sys/types.h>

#include "flakelab/engine/image.h"

namespace flakelab::engine {

struct DumpOptions {
  bool leave_running = false;   // default: kill the process once dumped
  // A unix socket connected to a socket outside the process makes dump fail;
  // with this it is dumped with its peer's name and reconnected to it on restore.
  bool ext_unix_sk = false;
};

// Throws EngineError; the process is then left running exactly as before.
Image dump_process(pid_t pid, const DumpOptions& options = {});

}  // namespace flakelab::engine
