// A command's stdout/stderr kept bounded: the last `limit` bytes in memory, and
// streamed into a file as they arrive so that a trial killed at its timeout still leaves
// them behind. The file is cut back to the last `limit` bytes whenever it reaches twice
// that, and at close().
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "flakelab/base/unique_fd.h"

namespace flakelab::scenarios {

class OutputTail {
 public:
  static constexpr size_t kDefaultLimit = 1024 * 1024;

  // Appends to `path` (the trial's output.log, which its stdout may share); "" keeps the
  // tail in memory only. Throws base::OsError if the file
  // cannot be opened.
  explicit OutputTail(const std::string& path, size_t limit = kDefaultLimit);

  void append(std::string_view bytes);
  // Cuts the file to exactly the kept tail. Throws std::runtime_error on a write error.
  void close();

  // The last `limit` bytes (or everything if less).
  const std::string& tail() const { return tail_; }
  size_t total_bytes() const { return total_; }

 private:
  void rewrite_file();

  std::string path_;
  size_t limit_;
  base::UniqueFd file_;
  size_t file_bytes_ = 0;
  size_t total_ = 0;
  std::string tail_;
};

// The message of a failed command from its output: the last line matching one of
// `patterns` (ECMAScript regexes), else the last non-empty line, then "; " and the
// exit status ("exit status 1", "killed by SIGSEGV"). Lines are cut to 500 bytes.
// Throws std::regex_error on a bad pattern.
std::string failure_message(std::string_view output, const std::vector<std::string>& patterns,
                            std::string_view status);

}  // namespace flakelab::scenarios
