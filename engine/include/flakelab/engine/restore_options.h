// What a restore is asked (RestoreOptions) and what it measured (RestoreStats),
// apart from restore.h so that the engine's file modules can take them without
// including the whole restore interface.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

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
  // Where the restore logs (flakelab/engine/log.h): one line with what it did at
  // info level, every step with its duration at debug, waits under the
  // unix-gc-wait policy as warnings. Not owned; none: no log.
  spdlog::logger* log = nullptr;
};

// What a restore measured.
struct RestoreStats {
  std::chrono::nanoseconds unix_gc_waited{0};  // time spent waiting under the unix-gc-wait policy
  int unix_gc_retries = 0;                     // binds retried under it
  std::vector<std::string> not_restored;       // what the kernel refused and was skipped, and why (a loginuid)
};

}  // namespace flakelab::engine
