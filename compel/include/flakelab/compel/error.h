// Errors raised by compel. Every message names the operation, the pid/tid/fd and
// the errno text, e.g. "PTRACE_SEIZE tid 4242: Operation not permitted (EPERM)".
#pragma once

#include <stdexcept>
#include <string>

namespace flakelab::compel {

class CompelError : public std::runtime_error {
 public:
  explicit CompelError(const std::string& what, int err = 0)
      : std::runtime_error(what), errno_(err) {}
  int error_number() const { return errno_; }

 private:
  int errno_;
};

// "strerror (ENAME)" for an errno value.
std::string errno_text(int err);

// Throws CompelError("<what>: <errno text>") with the current errno.
[[noreturn]] void throw_errno(const std::string& what);
[[noreturn]] void throw_errno(const std::string& what, int err);

}  // namespace flakelab::compel
