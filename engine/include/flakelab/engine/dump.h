// Checkpoint of a process tree into an Image (see engine/README.md for what
// survives).
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

#include <string>

#include "flakelab/engine/image.h"

namespace flakelab::engine {

struct DumpOptions {
  bool leave_running = false;   // default: kill the process tree once dumped
  // A unix socket connected to a socket outside the process makes dump fail;
  // with this it is dumped with its peer's name and reconnected to it on restore.
  bool ext_unix_sk = false;
};

// Dumps `pid` and all its descendants (a process tree; zombies included): every
// process is frozen before anything is read, and children forked meanwhile are
// taken along. Without leave_running the whole tree is killed and reaped (the
// root by us if we are its parent), so every pid is free for restore_process().
// Throws EngineError; every process is then left running exactly as before.
Image dump_process(pid_t pid, const DumpOptions& options = {});

// The same, writing the image into directory DIR (as write_image_dir() would,
// format version 3) as it goes: each process's pages go from the process into
// DIR/pages.img through a small buffer per copying thread, never all in memory
// at once, and the tree is killed only once both files are in place. The
// returned image's pages are read-only views of DIR/pages.img. On failure the
// processes are left running and DIR holds no new pages file.
Image dump_process_to_dir(pid_t pid, const std::string& dir, const DumpOptions& options = {});

}  // namespace flakelab::engine
