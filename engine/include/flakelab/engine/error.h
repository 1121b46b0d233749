// Errors raised by the engine. Messages name the operation, the pid, the path and
// the errno text; image errors name the file and the field.
#pragma once

#include <stdexcept>
#include <string>

namespace flakelab::engine {

class EngineError : public std::runtime_error {
 public:
  explicit EngineError(const std::string& what, int err = 0) : std::runtime_error(what), errno_(err) {}
  int error_number() const { return errno_; }

 private:
  int errno_;
};

// A checkpoint image that cannot be used: "image <file>: <field>: <problem>".
class ImageError : public EngineError {
 public:
  ImageError(const std::string& file, const std::string& field, const std::string& problem)
      : EngineError("image " + file + ": " + field + ": " + problem), file_(file), field_(field) {}
  const std::string& file() const { return file_; }
  const std::string& field() const { return field_; }

 private:
  std::string file_;
  std::string field_;
};

// Throws EngineError("<what>: <strerror> (ENAME)") with the current errno / `err`.
[[noreturn]] void throw_errno(const std::string& what);
[[noreturn]] void throw_errno(const std::string& what, int err);

}  // namespace flakelab::engine
