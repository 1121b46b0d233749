// A thread's registered rseq area as ptrace reports it (PTRACE_GET_RSEQ_CONFIGURATION,
// Linux 5.13), for dump (save it) and restore (unregister the restorer's inherited one).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace flakelab::base {

// rseq(2) flags argument that unregisters the area.
inline constexpr int kRseqFlagUnregister = 1;

struct RseqConfiguration {
  uint64_t address = 0;
  uint32_t size = 0;
  uint32_t signature = 0;
};

// The area registered by ptrace-stopped thread `tid`, or nullopt if it has none or the
// kernel cannot say (older kernels, where nothing is saved either).
std::optional<RseqConfiguration> rseq_configuration(pid_t tid);

}  // namespace flakelab::base
