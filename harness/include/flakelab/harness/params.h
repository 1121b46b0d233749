// Scenario parameters on the command line (`--param k=v`), and the scenario catalog.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "flakelab/scenarios/scenario.h"

namespace flakelab::harness {

// Checks `assignments` ("k=v" each) against the scenario's declared params and returns
// every declared param with defaults applied. Throws UsageError on a malformed
// assignment, an undeclared name, a repeated name, or a value its type refuses
// (ParamSpec::refuse): this runs when a run is planned, before any database is opened.
std::map<std::string, std::string> resolve_params(const scenarios::Scenario& scenario,
                                                  const std::vector<std::string>& assignments);

// `--engine-cli PATH` (run, zdtm-suite): adds engine_cli=PATH to `assignments`, and
// engine=cli unless they already choose an engine.
void add_engine_cli_params(const std::string& path, std::vector<std::string>& assignments);

// "k=v,k=v" sorted by key (std::map order).
std::string canonical_params(const std::map<std::string, std::string>& params);

// Text of `flakelab scenarios`: every scenario, its description and params with type,
// range and default.
std::string format_scenario_list();

}  // namespace flakelab::harness
