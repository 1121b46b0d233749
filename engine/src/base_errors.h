// The engine's errors for calls into the base layer: base::OsError becomes EngineError
// (same message and errno), so that callers catching EngineError keep working.
#pragma once

#include <utility>

#include "flakelab/base/os_error.h"
#include "flakelab/engine/error.h"

namespace flakelab::engine {

template <typename Call>
decltype(auto) with_engine_errors(Call&& call) {
  try {
    return std::forward<Call>(call)();
  } catch (const base::OsError& e) {
    throw EngineError(e.what(), e.error_number());
  }
}

}  // namespace flakelab::engine
