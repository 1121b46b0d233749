// The error base raises: a message naming the operation, the pid/fd/path and the errno
// text ("open /proc/42/maps: No such file or directory (ENOENT)"), and the errno.
// Layers above translate it into their own error type where they catch by type.
#pragma once

#include <stdexcept>
#include <string>

namespace flakelab::base {

class OsError : public std::runtime_error {
 public:
  explicit OsError(const std::string& what, int err = 0) : std::runtime_error(what), errno_(err) {}
  int error_number() const { return errno_; }

 private:
  int errno_;
};

// "strerror (ENAME)" for an errno value.
std::string errno_text(int err);

// Throws OsError("<what>: <errno text>", err).
[[noreturn]] void throw_os_error(const std::string& what, int err);

}  // namespace flakelab::base
