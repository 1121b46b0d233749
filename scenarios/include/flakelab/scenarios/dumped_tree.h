// A dumped process tree that the dump killed: every pid of it must be free again before
// the restore. flakelab's engine reaps the tree itself; CRIU only kills it, and the
// trial (its parent, or the subreaper its orphans go to) has to reap the corpses.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <vector>

namespace flakelab::scenarios {

// `pid` and all its descendants (from /proc/PID/task/*/children), `pid` first. Pids
// that vanish while it reads are left out.
std::vector<pid_t> process_tree(pid_t pid);

// Waits until every one of `pids` is gone, reaping those that are (or become, as
// orphans of a subreaper) the caller's children. False if one still exists at the
// deadline.
bool wait_tree_gone(const std::vector<pid_t>& pids, std::chrono::milliseconds timeout);

}  // namespace flakelab::scenarios
