// The body of a trial process, forked by its TrialHost: drops the harness's
// descriptors, enters the trial's temp dir, pins itself as the injector, runs the
// scenario and writes the verdict to `result_fd`. Never returns.
#pragma once

namespace flakelab::harness {

class Topology;
struct TrialRequest;

[[noreturn]] void run_trial_process(int result_fd, const Topology& topology, const TrialRequest& request);

}  // namespace flakelab::harness
