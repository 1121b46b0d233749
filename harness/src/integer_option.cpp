#include "flakelab/harness/integer_option.h"

#include <fmt/core.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace flakelab::harness {

std::string integer_problem(const std::string& text, int64_t min, uint64_t max) {
  const std::string range = fmt::format("{}..{}", min, max);
  const bool negative = !text.empty() && text[0] == '-';
  const size_t digits_at = negative || (!text.empty() && text[0] == '+') ? 1 : 0;
  // strto*ll would skip blanks and take a sign after them: only digits here.
  if (text.size() <= digits_at || !std::isdigit(static_cast<unsigned char>(text[digits_at])))
    return fmt::format("'{}' is not an integer ({})", text, range);
  if (negative && min >= 0) return fmt::format("'{}' is negative; expected {}", text, range);
  char* end = nullptr;
  errno = 0;
  if (negative) {
    const long long value = std::strtoll(text.c_str(), &end, 0);
    if (*end != '\0') return fmt::format("'{}' is not an integer ({})", text, range);
    if (errno == ERANGE || value < min) return fmt::format("'{}' is out of range {}", text, range);
    return "";
  }
  const unsigned long long value = std::strtoull(text.c_str(), &end, 0);
  if (*end != '\0') return fmt::format("'{}' is not an integer ({})", text, range);
  if (errno == ERANGE || value > max) return fmt::format("'{}' is out of range {}", text, range);
  return "";
}

}  // namespace flakelab::harness
