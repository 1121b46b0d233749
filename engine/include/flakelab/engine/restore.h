// Restore of a process tree from an Image, with its original pids, the root as
// a child of the calling process (so the caller can waitpid() it). What comes
// back, and how: engine/README.md ("What survives", "How restore works").
//
// Each process is created with clone3(set_tid), jumps to a small trampoline
// mapped where the image has nothing, and is then rebuilt from outside with
// compel remote syscalls; the trampoline is finally removed by a syscall issued
// from the vDSO. If anything fails, every process made is killed and reaped: a
// half-restored process never runs.
#pragma once

#include <sys/types.h>

#include "flakelab/engine/image.h"
#include "flakelab/engine/restore_options.h"

namespace flakelab::engine {

// Returns the pid of the running, restored process: the root of the tree, our
// child; its descendants are its children and grandchildren again, with their
// pids, sessions and groups (a session or group the root had from outside the
// tree becomes the caller's). Throws EngineError/ImageError; nothing is left
// behind then.
// `stats`, if given, receives what the restore measured (also on failure).
pid_t restore_process(const Image& image, const RestoreOptions& options = {}, RestoreStats* stats = nullptr);

}  // namespace flakelab::engine
