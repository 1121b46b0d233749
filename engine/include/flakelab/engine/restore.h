// Restore of one process from an Image, with its original pid, as a child of the
// calling process (so the caller can waitpid() it).
//
// The new process is created with clone3(set_tid), jumps to a small trampoline
// mapped where the image has nothing, and is then rebuilt from outside with
// compel remote syscalls: everything but the trampoline is unmapped, the saved
// mappings are created and filled, the vDSO/vvar group is moved to its saved
// address, mm fields, signal state and attributes are set, and the trampoline is
// finally removed by a syscall issued from the vDSO. If anything fails, the new
// process is killed and reaped: a half-restored process never runs.
#pragma once

#include <sys/types.h>

#include "flakelab/engine/image.h"

namespace flakelab::engine {

struct RestoreOptions {
  // How long to retry while the saved pid is still taken (e.g. by a dumped
  // process whose parent has not reaped it yet).
  int pid_wait_ms = 2000;
};

// Returns the pid of the running, restored process: the root of the tree, our
// child; its descendants are its children and grandchildren again, with their
// pids, sessions and groups (a session or group the root had from outside the
// tree becomes the caller's). Throws EngineError/ImageError; nothing is left
// behind then.
pid_t restore_process(const Image& image, const RestoreOptions& options = {});

}  // namespace flakelab::engine
