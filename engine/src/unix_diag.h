// base's sock_diag for the engine: the same calls, errors as EngineError.
#pragma once

#include <sys/sysmacros.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>

#include "base_errors.h"
#include "flakelab/base/unix_diag.h"

namespace flakelab::engine {

using base::UnixDiag;

inline std::map<uint32_t, UnixDiag> unix_diag_all() {
  return with_engine_errors([] { return base::unix_diag_all(); });
}

// UNIX_DIAG_VFS gives the kernel's internal dev_t (major << 20 | minor): as stat() shows it.
inline dev_t diag_dev(uint32_t kernel_dev) { return makedev(kernel_dev >> 20, kernel_dev & 0xfffff); }

inline std::optional<UnixDiag> unix_diag_one(uint32_t ino) {
  return with_engine_errors([ino] { return base::unix_diag_one(ino); });
}

}  // namespace flakelab::engine
