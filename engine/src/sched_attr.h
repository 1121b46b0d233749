// The kernel's struct sched_attr (sched_getattr/sched_setattr): <linux/sched/types.h>
// clashes with glibc's <sched.h>, and this glibc has no wrapper.
#pragma once

#include <cstdint>

namespace flakelab::engine {

struct KernelSchedAttr {
  uint32_t size = sizeof(KernelSchedAttr);
  uint32_t sched_policy = 0;
  uint64_t sched_flags = 0;
  int32_t sched_nice = 0;
  uint32_t sched_priority = 0;
  uint64_t sched_runtime = 0;
  uint64_t sched_deadline = 0;
  uint64_t sched_period = 0;
  uint32_t sched_util_min = 0;
  uint32_t sched_util_max = 0;
};

// <linux/sched.h>'s SCHED_FLAG_RESET_ON_FORK.
inline constexpr uint64_t kSchedFlagResetOnFork = 0x01;

}  // namespace flakelab::engine
