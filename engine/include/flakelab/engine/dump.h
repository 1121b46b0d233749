// Checkpoint of a process tree into an Image. What is supported, and what makes
// dump_process() refuse (naming the pid and fd or mapping, before any process is
// touched): engine/README.md ("What survives"), the one list kept up to date.
#pragma once

#include <sys/types.h>

#include <string>

#include "flakelab/engine/image.h"

namespace spdlog {
class logger;
}

namespace flakelab::engine {

struct DumpOptions {
  bool leave_running = false;   // default: kill the process tree once dumped
  // A unix socket connected to a socket outside the process makes dump fail;
  // with this it is dumped with its peer's name and reconnected to it on restore.
  bool ext_unix_sk = false;
  // Where the dump logs (flakelab/engine/log.h): one line with what it did at info
  // level, every step with its duration at debug. Not owned; none: no log.
  spdlog::logger* log = nullptr;
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
