// Pinning trial processes to their roles' PUs, and reading back where every thread of
// a process may run, which is what a trial row records as "CPUs actually used".
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flakelab/harness/placement.h"
#include "flakelab/scenarios/scenario.h"

namespace flakelab::harness {

class Topology;

// The CPUs thread `tid` may run on (sched_getaffinity), ascending.
// Throws HarnessError (ESRCH included: the caller decides whether a vanished thread matters).
std::vector<int> thread_affinity(pid_t tid);

// Thread ids of process `pid` now, from /proc/PID/task. Throws HarnessError.
std::vector<pid_t> thread_ids(pid_t pid);

// Binds and records for one trial: the implementation of TrialContext::bind_self,
// record_binding and cpu_of.
class BindingRecorder {
 public:
  // How long record() waits for a freshly forked process to pin itself.
  static constexpr std::chrono::milliseconds kDefaultSettle{1000};

  BindingRecorder(const Topology& topology, const Placement& placement,
                  std::chrono::milliseconds settle = kDefaultSettle);

  // Pins the calling process to the role's PU; no-op if the role is unpinned.
  void bind_self(scenarios::Role role) const;

  // Reads the affinity of every thread of `pid` and records the CPUs (the union over
  // threads) for the role. If the role is pinned, every thread must be allowed exactly
  // its PU. A process forked just before and still on its way to bind_self() is given
  // up to `settle` to get there, so that "fork, record_binding, inject" is correct:
  // when record() returns, the process is pinned. Still off its PU after that: throws
  // HarnessError naming the role, pid, tid and both CPU lists.
  void record(scenarios::Role role, pid_t pid);

  std::optional<int> cpu_of(scenarios::Role role) const { return placement_.cpu_of(role); }

  // What a scenario placed itself (TrialContext::record_cpus): "KEY=CPUS" after the roles.
  void note(std::string_view key, std::string_view cpus);

  // "victim=0,injector=1": recorded roles in role order, then the notes; "" if nothing
  // was recorded.
  std::string cpus_used() const;

 private:
  const Topology& topology_;
  Placement placement_;
  std::chrono::milliseconds settle_;
  std::array<std::string, Placement::kRoles> recorded_{};
  std::string notes_;
};

}  // namespace flakelab::harness
