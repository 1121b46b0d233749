// Image-side rules for credentials (Thread.creds) and seccomp filters
// (Process.seccomp_filters): limits, validation, the `show` lines, capability
// names and the filter chains restore installs. Dump and restore live in
// creds_dump.cpp and creds_restore.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flakelab/engine/image.h"

namespace flakelab::engine {

struct CredsLimits {
  static constexpr uint32_t kLastCap = 40;               // CAP_CHECKPOINT_RESTORE, Linux 5.9 .. 6.18
  static constexpr uint64_t kAllCaps = (uint64_t{1} << (kLastCap + 1)) - 1;
  static constexpr int kMaxGroups = 65536;               // NGROUPS_MAX
  static constexpr uint32_t kKnownSecurebits = 0xff;     // SECURE_ALL_BITS | SECURE_ALL_LOCKS
  static constexpr int kMaxFilters = 512;                // per process
  static constexpr size_t kMaxFilterInsns = 4096;        // BPF_MAXINSNS
  static constexpr size_t kMaxChainInsns = 32768;        // MAX_INSNS_PER_PATH, 4 more per filter
  static constexpr uint32_t kKnownFilterFlags = 2;       // SECCOMP_FILTER_FLAG_LOG
  static constexpr uint32_t kNoUid = 0xffffffffu;        // "unchanged" to setresuid: never a real id
};

// "cap_sys_admin, cap_kill" for the bits of `caps` ("none" if empty).
std::string cap_names(uint64_t caps);

// The filters of `filter_id`'s chain, oldest first (empty for 0). The image must be
// valid (validate_credentials checked that every parent comes first).
std::vector<const pb::SeccompFilter*> filter_chain(const pb::Process& p, uint32_t filter_id);

// How restore installs a process's filters: `shared` (oldest first) by the leader
// with SECCOMP_FILTER_FLAG_TSYNC, so every thread shares them again; then each
// thread its own `per_thread[i]` (oldest first) without it. `shared` is the
// longest chain prefix every thread has (filters installed with TSYNC, or inherited
// before the threads were made).
struct SeccompPlan {
  std::vector<const pb::SeccompFilter*> shared;
  std::vector<std::vector<const pb::SeccompFilter*>> per_thread;
};
SeccompPlan seccomp_plan(const pb::Process& p);

// Checks every thread's creds and the filter table. Either every thread has creds
// or none (an image from before they were dumped). Throws ImageError.
void validate_credentials(const pb::Process& p, const std::string& file);

// Lines for `show`: one per thread with creds, one per filter ("" if none).
std::string show_credentials(const pb::Process& p);

}  // namespace flakelab::engine
