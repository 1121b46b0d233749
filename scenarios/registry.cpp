// The registry is an explicit list (all_scenarios.inc) of factory functions, so that
// linking flakelab_scenarios as a static library can never drop a scenario.
#include <algorithm>
#include <set>
#include <stdexcept>

#include "flakelab/scenarios/scenario.h"

namespace flakelab::scenarios {

#define FLAKELAB_SCENARIO(factory) std::unique_ptr<Scenario> factory();
#include "all_scenarios.inc"
#undef FLAKELAB_SCENARIO

namespace {

std::vector<std::unique_ptr<Scenario>> build_registry() {
  std::vector<std::unique_ptr<Scenario>> all;
#define FLAKELAB_SCENARIO(factory) all.push_back(factory());
#include "all_scenarios.inc"
#undef FLAKELAB_SCENARIO
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a->name() < b->name(); });
  std::set<std::string> seen;
  for (const auto& scenario : all) {
    if (!seen.insert(scenario->name()).second) {
      throw std::logic_error("two scenarios are both named '" + scenario->name() + "'");
    }
    std::set<std::string> params;
    for (const ParamSpec& spec : scenario->params()) {
      if (!params.insert(spec.name).second) {
        throw std::logic_error("scenario " + scenario->name() + " declares parameter '" +
                               spec.name + "' twice");
      }
      if (auto expected = spec.refuse(spec.default_value)) {
        throw std::logic_error("scenario " + scenario->name() + ": default '" +
                               spec.default_value + "' of parameter '" + spec.name +
                               "' is not " + *expected);
      }
    }
  }
  return all;
}

}  // namespace

const std::vector<std::unique_ptr<Scenario>>& registry() {
  static const std::vector<std::unique_ptr<Scenario>> all = build_registry();
  return all;
}

Scenario* find_scenario(std::string_view name) {
  for (const auto& scenario : registry()) {
    if (scenario->name() == name) return scenario.get();
  }
  return nullptr;
}

}  // namespace flakelab::scenarios
