#pragma once

// What kind of build this is, for tests that size their stress loops.
//
// Under AddressSanitizer a fork of an instrumented process, its page faults and a
// dump of it cost 10-20x more than in a Release build (the shadow memory), and the
// sanitizer run is there to find memory errors, not to measure rates: its stress
// tests run fewer trials of the same checks.

namespace flakelab::base {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizerBuild = true;
#else
inline constexpr bool kAddressSanitizerBuild = false;
#endif

// `full` trials in a normal build, `sanitized` under AddressSanitizer.
constexpr int stress_trials(int full, int sanitized) { return kAddressSanitizerBuild ? sanitized : full; }

}  // namespace flakelab::base
