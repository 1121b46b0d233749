#include "flakelab/engine/restore.h"  // parse_duration

#include <cstdint>

namespace flakelab::engine {

std::optional<std::chrono::microseconds> parse_duration(std::string_view text) {
  if (text == "0") return std::chrono::microseconds(0);
  size_t digits = 0;
  uint64_t n = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9' && digits < 12)
    n = n * 10 + static_cast<uint64_t>(text[digits++] - '0');
  if (digits == 0) return std::nullopt;
  std::string_view unit = text.substr(digits);
  uint64_t us = unit == "us" ? n : unit == "ms" ? n * 1000 : unit == "s" ? n * 1000000 : ~uint64_t{0};
  if (us > 3600ull * 1000000) return std::nullopt;
  return std::chrono::microseconds(us);
}

}  // namespace flakelab::engine
