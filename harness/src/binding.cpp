#include "flakelab/harness/binding.h"

#include <dirent.h>
#include <errno.h>
#include <fmt/core.h>
#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>
#include <thread>

#include "flakelab/harness/error.h"
#include "flakelab/harness/topology.h"

namespace flakelab::harness {
namespace {

using scenarios::Role;

// sched_getaffinity for `tid` into `cpus`; returns 0 or an errno value.
int read_affinity(pid_t tid, std::vector<int>& cpus) {
  for (size_t ncpus = 1024; ncpus <= (size_t{1} << 20); ncpus *= 2) {
    std::unique_ptr<cpu_set_t, void (*)(cpu_set_t*)> set(CPU_ALLOC(ncpus), [](cpu_set_t* s) {
      CPU_FREE(s);
    });
    if (!set) return ENOMEM;
    const size_t size = CPU_ALLOC_SIZE(ncpus);
    CPU_ZERO_S(size, set.get());
    if (::sched_getaffinity(tid, size, set.get()) != 0) {
      if (errno == EINVAL) continue;  // the kernel's mask is larger: retry bigger
      return errno;
    }
    cpus.clear();
    for (size_t cpu = 0; cpu < ncpus; ++cpu) {
      if (CPU_ISSET_S(cpu, size, set.get())) cpus.push_back(static_cast<int>(cpu));
    }
    return 0;
  }
  return EINVAL;
}

}  // namespace

std::vector<int> thread_affinity(pid_t tid) {
  std::vector<int> cpus;
  if (int err = read_affinity(tid, cpus)) {
    throw HarnessError(errno_text(fmt::format("sched_getaffinity(thread {})", tid), err));
  }
  return cpus;
}

std::vector<pid_t> thread_ids(pid_t pid) {
  const std::string path = fmt::format("/proc/{}/task", pid);
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path.c_str()), &::closedir);
  if (!dir) throw os_error("opendir " + path);
  std::vector<pid_t> tids;
  errno = 0;
  while (const dirent* entry = ::readdir(dir.get())) {
    pid_t tid = 0;
    const char* name = entry->d_name;
    const char* end = name + std::strlen(name);
    auto [ptr, ec] = std::from_chars(name, end, tid);
    if (ec == std::errc() && ptr == end && tid > 0) tids.push_back(tid);
  }
  if (errno != 0) throw os_error("readdir " + path);
  return tids;
}

BindingRecorder::BindingRecorder(const Topology& topology, const Placement& placement,
                                 std::chrono::milliseconds settle)
    : topology_(topology), placement_(placement), settle_(settle) {}

void BindingRecorder::bind_self(Role role) const {
  if (std::optional<int> cpu = placement_.cpu_of(role)) topology_.bind_current_process(*cpu);
}

void BindingRecorder::record(Role role, pid_t pid) {
  const std::optional<int> expected = placement_.cpu_of(role);
  const auto deadline = std::chrono::steady_clock::now() + settle_;
  auto pause = std::chrono::microseconds(20);
  for (;;) {
    std::vector<int> all;
    std::string mismatch;
    size_t threads_read = 0;
    for (pid_t tid : thread_ids(pid)) {
      std::vector<int> cpus;
      if (int err = read_affinity(tid, cpus)) {
        if (err == ESRCH) continue;  // the thread exited since the directory was read
        throw HarnessError(errno_text(fmt::format("{} pid {}: sched_getaffinity(thread {})",
                                                  scenarios::to_string(role), pid, tid),
                                      err));
      }
      if (expected && (cpus.size() != 1 || cpus[0] != *expected) && mismatch.empty()) {
        mismatch = fmt::format(
            "binding check: {} pid {} thread {} may run on CPUs {}, expected only CPU {}",
            scenarios::to_string(role), pid, tid, format_cpu_list(cpus), *expected);
      }
      all.insert(all.end(), cpus.begin(), cpus.end());
      ++threads_read;
    }
    if (threads_read == 0) {
      throw HarnessError(fmt::format("binding check: {} pid {} has no thread left (it exited?)",
                                     scenarios::to_string(role), pid));
    }
    if (mismatch.empty()) {
      recorded_[static_cast<size_t>(role)] = format_cpu_list(std::move(all));
      return;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw HarnessError(fmt::format("{} (still, {} ms after the check began)", mismatch,
                                     settle_.count()));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(2000));
  }
}

std::string BindingRecorder::cpus_used() const {
  std::string out;
  for (Role role : {Role::kVictim, Role::kInjector, Role::kWriter}) {
    const std::string& cpus = recorded_[static_cast<size_t>(role)];
    if (cpus.empty()) continue;
    if (!out.empty()) out += ',';
    out += fmt::format("{}={}", scenarios::to_string(role), cpus);
  }
  if (!notes_.empty()) out += (out.empty() ? "" : ",") + notes_;
  return out;
}

void BindingRecorder::note(std::string_view key, std::string_view cpus) {
  notes_ += fmt::format("{}{}={}", notes_.empty() ? "" : ",", key, cpus.empty() ? "none" : cpus);
}

}  // namespace flakelab::harness
