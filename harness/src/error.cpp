#include "flakelab/harness/error.h"

#include <errno.h>
#include <fmt/core.h>
#include <string.h>

#include <cstdio>

namespace flakelab::harness {

std::string errno_text(const std::string& what, int err) {
  return what + ": " + ::strerrordesc_np(err);
}

HarnessError os_error(const std::string& what) { return HarnessError(errno_text(what, errno)); }

int print_failure(int code, const std::string& message) {
  std::fflush(stdout);
  fmt::print(stderr, "flakelab: {}\n", message);
  return code;
}

}  // namespace flakelab::harness
