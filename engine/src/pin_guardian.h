// Puts back the CPU masks of tracee threads the engine pinned (TraceePins) if the
// engine dies before it can: a small child sharing the engine's memory (CLONE_VM,
// its own process, so it outlives a SIGKILLed engine) waits on a pipe whose only
// write end the engine holds. End of file means the engine is gone: the child
// restores every mask recorded so far. dismiss() tells it all is well.
//
// Entries are recorded before the thread's mask is changed, so the guardian never
// misses a pinned thread (restoring a mask that was not changed yet is harmless).
#pragma once

#include <sched.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>

namespace flakelab::engine {

class PinGuardian {
 public:
  // Starts the guardian. Throws EngineError if it cannot (pipe, mmap, clone).
  PinGuardian();
  ~PinGuardian() { dismiss(); }
  PinGuardian(const PinGuardian&) = delete;
  PinGuardian& operator=(const PinGuardian&) = delete;

  // Remembers `mask` as `tid`'s original; false if the table is full (then do not pin).
  bool record(pid_t tid, const cpu_set_t& mask);
  // The masks are back (or the threads died): the guardian exits without touching them.
  void dismiss() noexcept;
  pid_t pid() const { return pid_; }

  static constexpr size_t kMaxThreads = 512;

  struct Shared;  // lives in a mapping both sides see

 private:
  Shared* shared_ = nullptr;
  int write_fd_ = -1;
  pid_t pid_ = -1;
};

}  // namespace flakelab::engine
