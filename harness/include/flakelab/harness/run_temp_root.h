// The run-wide temporary root under which every trial gets its private directory
// (flakelab-run-XXXXXX in $TMPDIR, else /dev/shm, else /tmp), with its owner lock.
//
// A run killed with SIGKILL cannot remove its root. So each root holds `owner.lock`
// ("pid P start T": the owner's pid and start time in clock ticks, for people), flock()ed
// for the owner's life; the kernel drops the lock when the owner dies. A new run removes
// every root beside its own whose lock it can take: its owner is dead. A live concurrent
// run's root stays (its lock is held).
#pragma once

#include <chrono>
#include <string>

#include "flakelab/base/temp_dir.h"
#include "flakelab/base/unique_fd.h"

namespace flakelab::harness {

class RunTempRoot {
 public:
  static constexpr const char* kPrefix = "flakelab-run-";
  static constexpr const char* kLockName = "owner.lock";
  // A root without owner.lock comes from a build before the lock, or from a run killed
  // between mkdtemp and taking its lock: removed once it has been untouched this long (a
  // live run's root changes with every trial).
  static constexpr std::chrono::minutes kUnlockedRootAge{60};

  // `parent` "" picks the directory as base::TempDir does. Creates and locks the root,
  // then removes the stale roots beside it. Throws HarnessError.
  explicit RunTempRoot(const std::string& parent = "");
  RunTempRoot(const RunTempRoot&) = delete;
  RunTempRoot& operator=(const RunTempRoot&) = delete;
  const std::string& path() const { return dir_.path(); }

  // Removes the roots in `parent` whose owner is dead, but never `keep`; returns how many
  // were removed. One that cannot be removed is named in a warning, not an error: it does
  // not stop a run.
  static int remove_stale_roots(const std::string& parent, const std::string& keep = "");

 private:
  base::UniqueFd lock_;  // declared first: released only after the root is gone
  base::TempDir dir_;
};

}  // namespace flakelab::harness
