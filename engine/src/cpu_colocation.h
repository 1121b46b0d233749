// Keeps the engine and its tracee on one CPU while a dump or restore runs.
//
// Every remote syscall is a ptrace round trip: the tracee is resumed, stops, and
// the engine wakes from waitpid. With the two on different CPUs each of those
// wakeups is a cross-CPU interrupt; in this KVM guest that costs tens of
// microseconds against a few on one CPU (in-library restore of a small process:
// 11.7 ms unpinned, 1.9 ms with both on one CPU). So the engine thread pins
// itself to the tracee's CPU for the duration and puts its affinity back after.
// Processes the restore creates inherit the pinned mask; the restore gives them
// the caller's original mask before they run (restore_original_affinity()), and
// bulk page copies spread over the original mask too (caller_affinity()).
#pragma once

#include <sched.h>
#include <sys/types.h>

namespace flakelab::engine {

class CpuColocation {
 public:
  // Pins the calling thread to `cpu` (-1: the CPU it runs on now). Does nothing
  // if `cpu` is not in its affinity mask or the mask is a single CPU already.
  explicit CpuColocation(int cpu = -1);
  ~CpuColocation();
  CpuColocation(const CpuColocation&) = delete;
  CpuColocation& operator=(const CpuColocation&) = delete;

  bool pinned() const { return pinned_; }
  // Gives thread `tid` the mask the caller had before pinning (no-op if nothing
  // was pinned). Returns false (errno set) if sched_setaffinity failed.
  bool restore_original_affinity(pid_t tid) const;

 private:
  cpu_set_t original_{};
  bool pinned_ = false;
  const CpuColocation* outer_ = nullptr;
};

// The CPU `pid` last ran on (/proc/PID/stat), or -1.
int last_cpu_of(pid_t pid);

// The calling thread's affinity before an active CpuColocation pinned it, else
// its current affinity: the CPUs its own parallel work may use.
cpu_set_t caller_affinity();

}  // namespace flakelab::engine
