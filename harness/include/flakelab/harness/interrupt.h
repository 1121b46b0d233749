// SIGINT/SIGTERM stop a run between trials instead of killing the harness, so the
// trials recorded so far are flushed and summarized.
//
// Race-free waiting: once installed, SIGINT/SIGTERM stay blocked except inside the
// harness's waits, which pass interrupt_wait_mask() to ppoll().
#pragma once

#include <signal.h>

namespace flakelab::harness {

// Installs the handlers and blocks both signals outside interrupt-aware waits.
void install_interrupt_handlers();
// The signal that asked to stop, or 0.
int interrupt_signal();
// The signal mask to wait with (SIGINT/SIGTERM unblocked), or nullptr when the
// handlers are not installed (wait with the current mask).
const sigset_t* interrupt_wait_mask();
// In trial processes: SIGINT/SIGTERM/SIGPIPE back to their default actions, unblocked.
void reset_signal_dispositions();

}  // namespace flakelab::harness
