#include "cpu_colocation.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "flakelab/base/os_error.h"
#include "flakelab/base/procfs.h"
#include "flakelab/engine/error.h"

namespace flakelab::engine {
namespace {

thread_local const CpuColocation* t_active = nullptr;
thread_local cpu_set_t t_original;

}  // namespace

CpuColocation::CpuColocation(int cpu) {
  if (sched_getaffinity(0, sizeof(original_), &original_) != 0) return;
  if (CPU_COUNT(&original_) <= 1) return;
  if (cpu < 0) cpu = sched_getcpu();
  if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &original_)) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  if (sched_setaffinity(0, sizeof(one), &one) != 0) return;
  pinned_ = true;
  cpu_ = cpu;
  outer_ = t_active;
  if (!outer_) t_original = original_;
  t_active = this;
}

CpuColocation::~CpuColocation() {
  if (!pinned_) return;
  sched_setaffinity(0, sizeof(original_), &original_);
  t_active = outer_;
}

bool CpuColocation::restore_original_affinity(pid_t tid) const {
  if (!pinned_) return true;
  // The outermost mask: what the caller had before any engine pinning.
  const cpu_set_t& mask = outer_ ? t_original : original_;
  return sched_setaffinity(tid, sizeof(mask), &mask) == 0;
}

TraceePins& TraceePins::operator=(TraceePins&& other) noexcept {
  if (this != &other) {
    restore();
    saved_ = std::move(other.saved_);
    other.saved_.clear();
    guardian_ = std::move(other.guardian_);
  }
  return *this;
}

void TraceePins::pin(const CpuColocation& near, const std::vector<pid_t>& tids) {
  if (near.cpu() < 0) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(near.cpu(), &one);
  if (!guardian_) {
    try {
      guardian_ = std::make_unique<PinGuardian>();
    } catch (const EngineError&) {
      return;  // no guardian, no pinning: a dying engine must not leave threads pinned
    }
  }
  for (pid_t tid : tids) {
    cpu_set_t mask;
    if (sched_getaffinity(tid, sizeof(mask), &mask) != 0 || CPU_EQUAL(&mask, &one)) continue;
    if (!guardian_->record(tid, mask)) break;
    if (sched_setaffinity(tid, sizeof(one), &one) == 0) saved_.emplace_back(tid, mask);
  }
}

bool TraceePins::restore() noexcept {
  bool ok = true;
  int err = 0;
  for (const auto& [tid, mask] : saved_)
    if (sched_setaffinity(tid, sizeof(mask), &mask) != 0) {
      ok = false;
      err = errno;
    }
  saved_.clear();
  guardian_.reset();
  if (!ok) errno = err;
  return ok;
}

int last_cpu_of(pid_t pid) {
  std::vector<std::string> fields;
  try {
    fields = base::procfs::stat_fields(pid);
  } catch (const base::OsError&) {
    return -1;  // gone, or no such pid
  }
  // Field 39 (processor); stat_fields() starts at field 3.
  constexpr size_t kProcessor = 39 - 3;
  if (fields.size() <= kProcessor) return -1;
  char* end = nullptr;
  long cpu = std::strtol(fields[kProcessor].c_str(), &end, 10);
  return end == fields[kProcessor].c_str() ? -1 : static_cast<int>(cpu);
}

cpu_set_t caller_affinity() {
  if (t_active) return t_original;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) CPU_SET(0, &set);
  return set;
}

}  // namespace flakelab::engine
