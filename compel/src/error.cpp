#include "flakelab/compel/error.h"

#include <cerrno>
#include <string>

#include "flakelab/base/os_error.h"

namespace flakelab::compel {

std::string errno_text(int err) { return base::errno_text(err); }

void throw_errno(const std::string& what) { throw_errno(what, errno); }

void throw_errno(const std::string& what, int err) {
  throw CompelError(what + ": " + errno_text(err), err);
}

}  // namespace flakelab::compel
