#include "flakelab/scenarios/param_spec.h"

#include <charconv>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "flakelab/base/duration.h"

namespace flakelab::scenarios {
namespace {

// The whole of `text` as a T, or nothing ("12x", "" and "+1" are not numbers).
template <typename T>
std::optional<T> whole_number(std::string_view text) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

ParamSpec ParamSpec::integer(std::string name, int64_t default_value, int64_t min, int64_t max, std::string help) {
  return {std::move(name), std::to_string(default_value), std::move(help), ParamType::kInteger, {}, min, max};
}

ParamSpec ParamSpec::probability(std::string name, std::string default_value, std::string help) {
  return {std::move(name), std::move(default_value), std::move(help), ParamType::kProbability, {}, 0, 0};
}

ParamSpec ParamSpec::duration(std::string name, std::string default_value, std::string help) {
  return {std::move(name), std::move(default_value), std::move(help), ParamType::kDuration, {}, 0, 0};
}

ParamSpec ParamSpec::choice(std::string name, std::string default_value, std::vector<std::string> choices,
                            std::string help) {
  return {std::move(name), std::move(default_value), std::move(help), ParamType::kChoice, std::move(choices), 0, 0};
}

ParamSpec ParamSpec::string(std::string name, std::string default_value, std::string help) {
  return {std::move(name), std::move(default_value), std::move(help), ParamType::kString, {}, 0, 0};
}

std::optional<std::string> ParamSpec::refuse(std::string_view value) const {
  switch (type) {
    case ParamType::kInteger: {
      const auto n = whole_number<int64_t>(value);
      if (n && *n >= min && *n <= max) return std::nullopt;
      return "an integer from " + std::to_string(min) + " to " + std::to_string(max);
    }
    case ParamType::kProbability: {
      const auto p = whole_number<double>(value);
      if (p && *p >= 0 && *p <= 1) return std::nullopt;  // NaN fails both comparisons
      return "a probability from 0 to 1";
    }
    case ParamType::kDuration:
      try {
        base::parse_duration(value);
        return std::nullopt;
      } catch (const std::invalid_argument& e) {
        return std::string("a duration; ") + e.what();
      }
    case ParamType::kChoice:
      for (const std::string& choice : choices)
        if (choice == value) return std::nullopt;
      return fmt::format("{}", fmt::join(choices, " | "));
    case ParamType::kString:
      return std::nullopt;
  }
  return "a value of an unknown type";
}

std::string ParamSpec::type_text() const {
  switch (type) {
    case ParamType::kInteger: return "integer " + std::to_string(min) + ".." + std::to_string(max);
    case ParamType::kProbability: return "probability 0..1";
    case ParamType::kDuration: return "duration";
    case ParamType::kChoice: return fmt::format("{}", fmt::join(choices, "|"));
    case ParamType::kString: return "string";
  }
  return "unknown";
}

}  // namespace flakelab::scenarios
