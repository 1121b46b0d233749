// The triage verbs as functions: report, compare, gate and merge return their text or data
// instead of printing, with the CLI's checks and messages.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace flakelab::python {

// `flakelab report --format FORMAT [--run ID] [--since DATE]`'s text.
std::string report(const std::string& db, const std::string& format, std::optional<int64_t> run_id,
                   const std::optional<std::string>& since, const std::optional<std::string>& title);
// `flakelab compare RUN_A RUN_B`'s text.
std::string compare(const std::string& db, int64_t run_a, int64_t run_b, const std::string& db_b);
// `flakelab gate`: dict(passed, problems, text).
pybind11::dict gate(const std::string& db, const std::optional<std::string>& baseline, double alpha,
                    double confidence, bool pool_cpus, const std::vector<std::string>& ignore_params);
// `flakelab merge -o OUTPUT INPUTS...`: what was added, as a dict.
pybind11::dict merge(const std::string& output, const std::vector<std::string>& inputs);

}  // namespace flakelab::python
