// The body of a trial host: pid 1 of its own pid, mount and network namespaces. It
// mounts its /proc (and a tmpfs /run for an engine CLI other than flakelab's), then
// serves the harness's requests on `control` one trial at a time, and between trials
// kills what the trial left and renews the network namespace if anything is left in it
// (see trial_host.h).
#pragma once

namespace flakelab::harness {

class Topology;
struct TrialRequest;

// Never returns: the host exits when the harness closes `control`, or fails (telling
// the harness why first).
[[noreturn]] void host_main(int control, const Topology& topology, const TrialRequest& prototype);

}  // namespace flakelab::harness
