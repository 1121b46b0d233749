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

#include <chrono>
#include <optional>
#include <string_view>

#include "flakelab/engine/image.h"

namespace flakelab::engine {

struct RestoreOptions {
  // How long to retry while the saved pid is still taken (e.g. by a dumped
  // process whose parent has not reaped it yet).
  int pid_wait_ms = 2000;
  // The unix-gc-wait policy: binding a saved name that is still held by an
  // orphaned socket (one no process holds any more: the dumped process's sockets
  // in a reference cycle of SCM_RIGHTS wait for the kernel's unix garbage
  // collector after the kill) is retried for up to this long. A name held by a
  // live socket fails at once. 0 turns the policy off (CRIU's behaviour): the
  // first EADDRINUSE fails with
  // "unix: Can't bind id <id> ino <ino> addr <name>: Address already in use".
  // Default 1 s: the window is 5-10 ms on an idle machine, but once took over
  // 100 ms with the machine loaded 3.5x (ASan tests beside a build on 2 vCPUs).
  std::chrono::microseconds unix_gc_wait{1000000};
};

// What a restore measured.
struct RestoreStats {
  std::chrono::nanoseconds unix_gc_waited{0};  // time spent waiting under the unix-gc-wait policy
  int unix_gc_retries = 0;                     // binds retried under it
};

// Returns the pid of the running, restored process: the root of the tree, our
// child; its descendants are its children and grandchildren again, with their
// pids, sessions and groups (a session or group the root had from outside the
// tree becomes the caller's). Throws EngineError/ImageError; nothing is left
// behind then.
// `stats`, if given, receives what the restore measured (also on failure).
pid_t restore_process(const Image& image, const RestoreOptions& options = {}, RestoreStats* stats = nullptr);

}  // namespace flakelab::engine
