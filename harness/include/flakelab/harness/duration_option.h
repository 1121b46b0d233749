// Durations the harness reads (command-line options, campaign keys, jitter points,
// scenario parameters) all go through base::parse_duration's grammar; this adds the
// option's name to its complaint and turns it into a usage error.
#pragma once

#include <chrono>
#include <string_view>

namespace flakelab::harness {

// base::parse_duration(text); on a malformed duration throws UsageError
// "WHERE: 'TEXT': why (...)", where `where` names the option and what was given, e.g.
// "--jitter 'before_seize=5'" or "--max-time '90'".
std::chrono::nanoseconds parse_duration_arg(std::string_view where, std::string_view text);

// The same in seconds, for the settings kept as a double of seconds (--timeout,
// --max-time): "--OPTION 'TEXT'" is the `where` of the message.
double parse_seconds_arg(std::string_view option, std::string_view text);

}  // namespace flakelab::harness
