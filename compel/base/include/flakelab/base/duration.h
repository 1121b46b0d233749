// Durations as people write them: one grammar for every duration flakelab reads (command
// line, campaign files, scenario parameters, engine options).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace flakelab::base {

// A non-negative decimal number followed by its unit: ns, us, ms, s, m or h ("500us",
// "2ms", "2.5m", "1h"). A bare number is refused because its unit would be a guess (before
// this grammar `--jitter 5` meant 5 us while `--max-time 90` meant 90 s); "0" alone is
// allowed. Fractions must come out as whole nanoseconds. Throws std::invalid_argument
// whose message quotes the text and says what is expected; callers prefix the option.
std::chrono::nanoseconds parse_duration(std::string_view text);

// The shortest exact spelling in the grammar above: 1500000ns -> "1500us", 90s -> "90s",
// 0 -> "0". parse_duration(format_duration(d)) == d.
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace flakelab::base
