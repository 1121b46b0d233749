// Process state the engine does not save, found from /proc before the process is
// touched: a restore would silently drop it (the restored process would live in
// the restorer's cgroups, root and namespaces, without its POSIX timers), so the
// dump refuses it, naming it.
#pragma once

#include <sys/types.h>

#include <string>

namespace flakelab::engine {

// What of `pid`'s state restore cannot give back, or "". Reads a few small /proc
// files of `pid` and compares them with the dumper's own (the restorer is
// expected where the dumper is).
std::string check_unsaved_process_state(pid_t pid);

}  // namespace flakelab::engine
