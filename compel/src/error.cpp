#include "flakelab/compel/error.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace flakelab::compel {

std::string errno_text(int err) {
  std::string text = std::strerror(err);
  if (const char* name = strerrorname_np(err)) text += std::string(" (") + name + ")";
  return text;
}

void throw_errno(const std::string& what) { throw_errno(what, errno); }

void throw_errno(const std::string& what, int err) {
  throw CompelError(what + ": " + errno_text(err), err);
}

}  // namespace flakelab::compel
