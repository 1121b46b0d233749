// Runs one trial of a scenario in a process of its own, isolated and timed.
//
// The trial process is created with clone(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET)
// and continues on the harness's stack like fork(). It is pid 1 of a new pid
// namespace, so when it exits or is killed the kernel kills every process the trial
// started; it mounts its own /proc (private to its mount namespace) so that pids under
// /proc are those of its namespace; and it has its own network namespace, so abstract
// unix socket names never collide between trials. It pins itself as the injector,
// runs the scenario, and sends the result back over a pipe.
#pragma once

#include <sched.h>

#include <cstdint>
#include <map>
#include <string>

#include "flakelab/harness/placement.h"
#include "flakelab/results/store.h"
#include "flakelab/scenarios/scenario.h"

namespace flakelab::harness {

class Topology;

// The namespaces each trial process gets.
inline constexpr unsigned long kTrialNamespaces = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET;

struct TrialOptions {
  double timeout_s = 10;   // SIGKILL the trial after this long
};

struct TrialOutcome {
  results::Outcome outcome = results::Outcome::kPass;
  std::string message;       // empty on pass
  std::string cpus_used;     // as the trial recorded it, e.g. "victim=0,injector=1"
  double duration_ms = 0;    // from creating the trial process until it was reaped
  bool interrupted = false;  // SIGINT/SIGTERM arrived: the trial was killed, not judged
};

class TrialRunner {
 public:
  TrialRunner(const Topology& topology, Placement placement, TrialOptions options);

  // Runs trial `index` with `params` (every declared param, defaults applied) and
  // trial seed `seed`. Throws HarnessError when the trial cannot be started.
  TrialOutcome run(scenarios::Scenario& scenario, const std::map<std::string, std::string>& params,
                   int64_t index, uint64_t seed);

 private:
  const Topology& topology_;
  Placement placement_;
  TrialOptions options_;
};

}  // namespace flakelab::harness
