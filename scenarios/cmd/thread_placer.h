// Places every thread of every process a command starts: found by scanning /proc (the
// trial's own pid namespace, so it lists only the trial's processes) for descendants of
// the trial process, pinned as they appear, and read back. Without spread every thread
// goes to the first PU; with spread, threads go round-robin over the PUs in the order
// they are found (a process's main thread first), so two threads of one program run on
// two PUs. A thread that appears and ends between two scans is never seen: a scan is a
// poll, and the caller decides how often.
#pragma once

#include <sys/types.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace flakelab::scenarios {

class ThreadPlacer {
 public:
  // `pus` empty: nothing is pinned, only read back.
  ThreadPlacer(std::vector<int> pus, bool spread);

  // Pins the calling process to the PU of the first thread (call it in the forked child
  // before exec: its threads and children inherit the mask until a scan moves them).
  // Throws base::OsError.
  void pin_self_as_first() const;
  // Pins threads of the descendants of `root` not seen before and reads back every new
  // thread's mask. Threads that exit meanwhile are skipped. Throws base::OsError on
  // any other failure.
  void scan(pid_t root);

  // The union of the CPUs the threads were read back on, "0+1" ascending; "" if none seen.
  std::string cpus_used() const;
  size_t threads_seen() const { return seen_.size(); }
  // "tid@cpus" per thread, in the order found (for the trial's output).
  const std::vector<std::string>& log() const { return log_; }

 private:
  std::vector<int> pus_;
  bool spread_;
  std::set<pid_t> seen_;
  std::set<int> used_;
  std::vector<std::string> log_;
  size_t next_ = 0;
};

// "0,1": the PUs a command's threads are placed on, as FLAKELAB_CPUS shows them.
std::string join_pus(const std::vector<int>& pus, const char* separator);

}  // namespace flakelab::scenarios
