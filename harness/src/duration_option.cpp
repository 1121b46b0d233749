#include "flakelab/harness/duration_option.h"

#include <fmt/core.h>

#include <stdexcept>

#include "flakelab/base/duration.h"
#include "flakelab/harness/error.h"

namespace flakelab::harness {

std::chrono::nanoseconds parse_duration_arg(std::string_view where, std::string_view text) {
  try {
    return base::parse_duration(text);
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("{}: {}", where, e.what()));
  }
}

double parse_seconds_arg(std::string_view option, std::string_view text) {
  const auto d = parse_duration_arg(fmt::format("{} '{}'", option, text), text);
  return std::chrono::duration<double>(d).count();
}

}  // namespace flakelab::harness
