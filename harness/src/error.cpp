#include "flakelab/harness/error.h"

#include <errno.h>
#include <string.h>

namespace flakelab::harness {

std::string errno_text(const std::string& what, int err) {
  return what + ": " + ::strerrordesc_np(err);
}

HarnessError os_error(const std::string& what) { return HarnessError(errno_text(what, errno)); }

}  // namespace flakelab::harness
