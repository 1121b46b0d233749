// Getting rid of (parts of) a process tree that we trace without leaving
// zombies or taken pids behind: the kernel hands a dead tracee to its real
// parent only after its tracer waited for it, and a process whose parent is also
// killed goes to init, which may take its time to reap it. So: kill children
// before parents, wait for each as its tracer, then have its (still frozen)
// parent reap it with a remote wait4().
#pragma once

#include <sys/types.h>

#include <vector>

#include "flakelab/compel/seized_process.h"

namespace flakelab::engine {

// SIGKILL for `pid`; then, as tracer (or parent), waits for the threads `tids`
// (not the leader) and, if `wait_leader`, for the leader. Never throws.
void kill_and_collect(pid_t pid, const std::vector<pid_t>& tids, bool wait_leader) noexcept;

// `parent` (seized, stopped) reaps its dead child `pid` with a remote
// wait4(WNOHANG), retried for up to a second. False if it could not.
bool reap_in_parent(compel::SeizedProcess& parent, pid_t pid) noexcept;

}  // namespace flakelab::engine
