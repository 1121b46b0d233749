#include "output_tail.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <regex>
#include <stdexcept>

#include "flakelab/base/os_error.h"

namespace flakelab::scenarios {
namespace {

constexpr size_t kMaxLineBytes = 500;

void write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) base::throw_os_error("write " + path, errno);
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string_view trim_right(std::string_view line) {
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
  return line;
}

}  // namespace

OutputTail::OutputTail(const std::string& path, size_t limit) : path_(path), limit_(limit) {
  if (path_.empty()) return;
  file_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!file_) base::throw_os_error("open " + path_, errno);
}

void OutputTail::append(std::string_view bytes) {
  total_ += bytes.size();
  tail_.append(bytes);
  // Trimmed in steps of `limit` so that appending stays linear.
  if (tail_.size() >= 2 * limit_) tail_.erase(0, tail_.size() - limit_);
  if (!file_) return;
  write_all(file_.get(), bytes, path_);
  file_bytes_ += bytes.size();
  if (file_bytes_ >= 2 * limit_) rewrite_file();
}

void OutputTail::rewrite_file() {
  if (tail_.size() > limit_) tail_.erase(0, tail_.size() - limit_);
  if (::ftruncate(file_.get(), 0) != 0) base::throw_os_error("truncate " + path_, errno);
  if (::lseek(file_.get(), 0, SEEK_SET) != 0) base::throw_os_error("seek " + path_, errno);
  write_all(file_.get(), tail_, path_);
  file_bytes_ = tail_.size();
}

void OutputTail::close() {
  if (tail_.size() > limit_) tail_.erase(0, tail_.size() - limit_);
  if (file_ && file_bytes_ > tail_.size()) rewrite_file();
  file_.reset();
}

std::string failure_message(std::string_view output, const std::vector<std::string>& patterns,
                            std::string_view status) {
  std::vector<std::regex> regexes;
  for (const std::string& pattern : patterns) regexes.emplace_back(pattern);
  std::string_view matching, last;
  size_t end = output.size();
  while (end > 0 && (matching.empty() || (last.empty() && regexes.empty()))) {
    size_t begin = output.rfind('\n', end - 1);
    begin = begin == std::string_view::npos ? 0 : begin + 1;
    const std::string_view line = trim_right(output.substr(begin, end - begin));
    if (!line.empty()) {
      if (last.empty()) last = line;
      if (regexes.empty()) break;
      const std::string text(line);
      for (const std::regex& re : regexes) {
        if (std::regex_search(text, re)) {
          matching = line;
          break;
        }
      }
    }
    end = begin == 0 ? 0 : begin - 1;
  }
  std::string_view chosen = matching.empty() ? last : matching;
  if (chosen.size() > kMaxLineBytes) chosen = chosen.substr(0, kMaxLineBytes);
  if (chosen.empty()) return std::string(status) + " (no output)";
  return std::string(chosen) + "; " + std::string(status);
}

}  // namespace flakelab::scenarios
