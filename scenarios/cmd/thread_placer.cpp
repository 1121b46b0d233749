#include "thread_placer.h"

#include <errno.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "flakelab/base/os_error.h"
#include "flakelab/base/procfs.h"

namespace flakelab::scenarios {
namespace {

namespace procfs = base::procfs;

// The parent of every process of our pid namespace, from /proc/PID/stat (this kernel
// has no /proc/PID/task/TID/children).
std::multimap<pid_t, pid_t> children_by_parent() {
  std::multimap<pid_t, pid_t> children;
  for (pid_t pid : procfs::list_pids()) {
    std::vector<std::string> fields;
    try {
      fields = procfs::stat_fields(pid);
    } catch (const base::OsError&) {
      continue;  // exited meanwhile
    }
    pid_t parent = 0;
    if (fields.size() < 2) continue;
    if (std::from_chars(fields[1].data(), fields[1].data() + fields[1].size(), parent).ec == std::errc()) {
      children.emplace(parent, pid);
    }
  }
  return children;
}

std::vector<pid_t> descendants(pid_t root) {
  const std::multimap<pid_t, pid_t> children = children_by_parent();
  std::vector<pid_t> out;
  std::vector<pid_t> queue{root};
  for (size_t i = 0; i < queue.size(); ++i) {
    auto [begin, end] = children.equal_range(queue[i]);
    for (auto it = begin; it != end; ++it) {
      queue.push_back(it->second);
      out.push_back(it->second);
    }
  }
  return out;
}

// 0, or the errno of sched_setaffinity.
int pin(pid_t tid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::sched_setaffinity(tid, sizeof set, &set) == 0 ? 0 : errno;
}

// 0 and the CPUs, or the errno of sched_getaffinity.
int read_back(pid_t tid, std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(tid, sizeof set, &set) != 0) return errno;
  cpus.clear();
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return 0;
}

}  // namespace

std::string join_pus(const std::vector<int>& pus, const char* separator) {
  std::string out;
  for (int pu : pus) out += (out.empty() ? "" : separator) + std::to_string(pu);
  return out;
}

ThreadPlacer::ThreadPlacer(std::vector<int> pus, bool spread) : pus_(std::move(pus)), spread_(spread) {
  for (int pu : pus_) {
    if (pu < 0 || pu >= CPU_SETSIZE) throw base::OsError("PU " + std::to_string(pu) + " is beyond CPU_SETSIZE");
  }
}

void ThreadPlacer::pin_self_as_first() const {
  if (pus_.empty()) return;
  if (int err = pin(0, pus_.front())) base::throw_os_error("sched_setaffinity(self, CPU " + std::to_string(pus_.front()) + ")", err);
}

void ThreadPlacer::scan(pid_t root) {
  for (pid_t pid : descendants(root)) {
    for (pid_t tid : procfs::list_threads(pid)) {
      if (seen_.count(tid) > 0) continue;
      if (!pus_.empty()) {
        const int cpu = spread_ ? pus_[next_ % pus_.size()] : pus_.front();
        if (int err = pin(tid, cpu)) {
          if (err == ESRCH) continue;  // gone: it will not be seen again
          base::throw_os_error("sched_setaffinity(pid " + std::to_string(pid) + " thread " + std::to_string(tid) +
                                   ", CPU " + std::to_string(cpu) + ")",
                               err);
        }
      }
      std::vector<int> cpus;
      if (int err = read_back(tid, cpus)) {
        if (err == ESRCH) continue;
        base::throw_os_error("sched_getaffinity(pid " + std::to_string(pid) + " thread " + std::to_string(tid) + ")",
                             err);
      }
      ++next_;
      seen_.insert(tid);
      used_.insert(cpus.begin(), cpus.end());
      log_.push_back(std::to_string(tid) + "@" + join_pus(cpus, "+"));
    }
  }
}

std::string ThreadPlacer::cpus_used() const { return join_pus(std::vector<int>(used_.begin(), used_.end()), "+"); }

}  // namespace flakelab::scenarios
