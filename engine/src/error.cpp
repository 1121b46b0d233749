#include "flakelab/engine/error.h"

#include <cerrno>
#include <cstring>

namespace flakelab::engine {

void throw_errno(const std::string& what) { throw_errno(what, errno); }

void throw_errno(const std::string& what, int err) {
  const char* name = strerrorname_np(err);
  // Built with append: g++ 12 emits a bogus -Wrestrict for chained operator+.
  std::string msg = what;
  msg.append(": ").append(std::strerror(err)).append(" (").append(name ? name : "?").append(")");
  throw EngineError(msg, err);
}

}  // namespace flakelab::engine
