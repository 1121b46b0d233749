#include "flakelab/base/os_error.h"

#include <cstring>

namespace flakelab::base {

std::string errno_text(int err) {
  std::string text = std::strerror(err);
  if (const char* name = strerrorname_np(err)) text.append(" (").append(name).append(")");
  return text;
}

void throw_os_error(const std::string& what, int err) {
  // Built with append: g++ 12 emits a bogus -Wrestrict for chained operator+.
  std::string msg = what;
  msg.append(": ").append(errno_text(err));
  throw OsError(msg, err);
}

}  // namespace flakelab::base
