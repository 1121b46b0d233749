#include "flakelab/harness/params.h"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "flakelab/harness/error.h"
#include "flakelab/scenarios/checkpoint_engine.h"

namespace flakelab::harness {

std::map<std::string, std::string> resolve_params(const scenarios::Scenario& scenario,
                                                  const std::vector<std::string>& assignments) {
  const std::vector<scenarios::ParamSpec> specs = scenario.params();
  std::map<std::string, std::string> params;
  for (const scenarios::ParamSpec& spec : specs) params[spec.name] = spec.default_value;

  std::vector<std::string> names;
  for (const scenarios::ParamSpec& spec : specs) names.push_back(spec.name);
  const std::string known = names.empty() ? "it has none" : "it has: " + fmt::format("{}", fmt::join(names, ", "));

  std::set<std::string> given;
  for (const std::string& assignment : assignments) {
    const size_t eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError(fmt::format("bad --param '{}': expected NAME=VALUE", assignment));
    }
    const std::string name = assignment.substr(0, eq);
    const std::string value = assignment.substr(eq + 1);
    auto spec = std::find_if(specs.begin(), specs.end(),
                             [&](const scenarios::ParamSpec& s) { return s.name == name; });
    if (spec == specs.end()) {
      throw UsageError(fmt::format("scenario {} has no parameter '{}' ({})", scenario.name(), name,
                                   known));
    }
    if (!given.insert(name).second) {
      throw UsageError(fmt::format("--param {} is given more than once", name));
    }
    if (auto expected = spec->refuse(value)) {
      throw UsageError(fmt::format("--param {}={}: scenario {} accepts {} = {}", name, value,
                                   scenario.name(), name, *expected));
    }
    params[name] = value;
  }
  // A C/R scenario's engine choice: engine=cli needs engine_cli, whose --version is recorded.
  try {
    scenarios::complete_engine_params(params);
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("scenario {}: {}", scenario.name(), e.what()));
  }
  return params;
}

void add_engine_cli_params(const std::string& path, std::vector<std::string>& assignments) {
  const bool chosen = std::any_of(assignments.begin(), assignments.end(),
                                  [](const std::string& a) { return a.rfind("engine=", 0) == 0; });
  if (!chosen) assignments.push_back("engine=cli");
  assignments.push_back("engine_cli=" + path);
}

std::string canonical_params(const std::map<std::string, std::string>& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += ',';
    out += name + '=' + value;
  }
  return out;
}

std::string format_scenario_list() {
  std::string out;
  for (const auto& scenario : scenarios::registry()) {
    out += fmt::format("{}\n    {}\n", scenario->name(), scenario->description());
    for (const scenarios::ParamSpec& spec : scenario->params()) {
      const std::string head = fmt::format("--param {}={}  ({})", spec.name, spec.default_value, spec.type_text());
      out += fmt::format("      {:<40} {}\n", head, spec.help);
    }
    const std::vector<std::string> points = scenario->jitter_points();
    if (!points.empty()) out += fmt::format("      jitter points (--jitter): {}\n", fmt::join(points, ", "));
  }
  return out;
}

}  // namespace flakelab::harness
