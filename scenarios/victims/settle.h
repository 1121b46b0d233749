// The last step of a socket victim's setup: drop every fd but the ones it checks,
// say "ready" and sleep until the test sends SIGUSR1 (after the restore).
#pragma once

#include <vector>

namespace flakelab::victims {

// Closes every fd but `keep` and `ready_fd`, installs the SIGUSR1 handler, ignores
// SIGPIPE (a peer may be gone), writes 'r' to `ready_fd`, closes it and waits for
// SIGUSR1. Exits 101 if the ready byte cannot be written.
void settle_and_wait(int ready_fd, const std::vector<int>& keep);

}  // namespace flakelab::victims
