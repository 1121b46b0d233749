// Errors raised by compel. Every message names the operation, the pid/tid/fd and
// the errno text, e.g. "PTRACE_SEIZE tid 4242: Operation not permitted (EPERM)".
#pragma once

#include <string>

#include "flakelab/base/os_error.h"

namespace flakelab::compel {

class CompelError : public base::OsError {
 public:
  using base::OsError::OsError;
};

// "strerror (ENAME)" for an errno value.
std::string errno_text(int err);

// Throws CompelError("<what>: <errno text>") with the current errno.
[[noreturn]] void throw_errno(const std::string& what);
[[noreturn]] void throw_errno(const std::string& what, int err);

}  // namespace flakelab::compel
