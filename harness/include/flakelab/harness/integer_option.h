// Integer options that refuse what CLI11 2.1 would quietly change: it parses with
// strtoull/strtoll, so "-1" for an unsigned option wraps to 2^64-1 and a number
// too large for 64 bits is clamped. add_integer_option() checks the text first:
// a bad value is a usage error (exit 2) naming the option and the value.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

namespace flakelab::harness {

// "" if `text` is an integer (decimal, or 0x hex / 0 octal as CLI11 reads them)
// within [min, max]; else why not, naming the value and the range.
std::string integer_problem(const std::string& text, int64_t min, uint64_t max);

template <typename T>
CLI::Validator integer_in_range_of() {
  static_assert(std::is_integral_v<T> && sizeof(T) <= 8);
  return CLI::Validator(
      [](std::string& text) {
        return integer_problem(text, static_cast<int64_t>(std::numeric_limits<T>::min()),
                               static_cast<uint64_t>(std::numeric_limits<T>::max()));
      },
      "INT", "integer in range of its type");
}

// verb.add_option(name, target, description) for an integer `target`, checked as above.
template <typename T>
CLI::Option* add_integer_option(CLI::App& verb, const std::string& name, T& target, const std::string& description) {
  return verb.add_option(name, target, description)->check(integer_in_range_of<T>());
}

}  // namespace flakelab::harness
