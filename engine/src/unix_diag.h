// base's sock_diag for the engine: the same calls, errors as EngineError.
#pragma once

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

inline std::optional<UnixDiag> unix_diag_one(uint32_t ino) {
  return with_engine_errors([ino] { return base::unix_diag_one(ino); });
}

}  // namespace flakelab::engine
