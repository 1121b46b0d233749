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

#include <memory>
#include <utility>
#include <vector>

#include "pin_guardian.h"

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
  // The CPU the caller is pinned to, or -1.
  int cpu() const { return pinned_ ? cpu_ : -1; }
  // Gives thread `tid` the mask the caller had before pinning (no-op if nothing
  // was pinned). Returns false (errno set) if sched_setaffinity failed.
  bool restore_original_affinity(pid_t tid) const;

 private:
  cpu_set_t original_{};
  bool pinned_ = false;
  int cpu_ = -1;
  const CpuColocation* outer_ = nullptr;
};

// A dump's tracees on the engine's CPU too. Each remote syscall resumes the
// tracee with PTRACE_CONT while the engine runs on its own CPU, so the scheduler
// wakes the tracee on the idle other vCPU: a cross-CPU wakeup (tens of
// microseconds in this KVM guest) on every round trip, even with the engine
// pinned. pin() puts seized threads on the engine's CPU and remembers their
// masks; restore() puts the masks back and must run before the threads are
// released (the destructor does it too); forget() is for threads about to be
// killed. Should the engine die first, a PinGuardian puts the masks back; it is
// dismissed only when the pins are gone (restore() or destruction), so that an
// engine killed between forget() and the kill still leaves no thread pinned.
class TraceePins {
 public:
  TraceePins() = default;
  ~TraceePins() { restore(); }
  TraceePins(TraceePins&& other) noexcept : saved_(std::move(other.saved_)), guardian_(std::move(other.guardian_)) {
    other.saved_.clear();
  }
  TraceePins& operator=(TraceePins&& other) noexcept;
  TraceePins(const TraceePins&) = delete;
  TraceePins& operator=(const TraceePins&) = delete;

  // Best effort: a thread whose mask cannot be read or set is left alone, and
  // nothing is pinned if `near` did not pin the engine.
  void pin(const CpuColocation& near, const std::vector<pid_t>& tids);
  // Returns false (errno set) if a mask could not be put back.
  bool restore() noexcept;
  void forget() noexcept { saved_.clear(); }

 private:
  std::vector<std::pair<pid_t, cpu_set_t>> saved_;
  std::unique_ptr<PinGuardian> guardian_;
};

// The CPU `pid` last ran on (/proc/PID/stat), or -1.
int last_cpu_of(pid_t pid);

// The calling thread's affinity before an active CpuColocation pinned it, else
// its current affinity: the CPUs its own parallel work may use.
cpu_set_t caller_affinity();

}  // namespace flakelab::engine
