// A scenario parameter and its type. The harness checks every value against the type when
// a run is planned (harness/params.h), so `-p cycles=abc` is a usage error before the
// database is touched rather than thousands of error trials.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flakelab::scenarios {

enum class ParamType {
  kInteger,      // a decimal integer within [min, max]
  kProbability,  // a real number within [0, 1]
  kDuration,     // base::parse_duration's grammar ("500us", "2s", "0")
  kChoice,       // one of `choices`
  kString,       // anything
};

struct ParamSpec {
  std::string name;
  std::string default_value;
  std::string help;
  ParamType type = ParamType::kString;
  std::vector<std::string> choices;  // kChoice only
  int64_t min = 0;                   // kInteger only, inclusive
  int64_t max = 0;

  static ParamSpec integer(std::string name, int64_t default_value, int64_t min, int64_t max, std::string help);
  static ParamSpec probability(std::string name, std::string default_value, std::string help);
  static ParamSpec duration(std::string name, std::string default_value, std::string help);
  static ParamSpec choice(std::string name, std::string default_value, std::vector<std::string> choices,
                          std::string help);
  static ParamSpec string(std::string name, std::string default_value, std::string help);

  // Nothing if `value` is of this parameter's type; otherwise what it accepts, e.g.
  // "an integer from 1 to 100" or "fixed | legacy".
  std::optional<std::string> refuse(std::string_view value) const;
  // What `flakelab scenarios` shows: "integer 1..100", "probability 0..1", "duration",
  // "fixed|legacy", "string".
  std::string type_text() const;
};

}  // namespace flakelab::scenarios
