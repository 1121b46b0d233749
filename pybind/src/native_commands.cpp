#include "native_commands.h"

#include <fmt/core.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "flakelab/harness/compare_command.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/gate_command.h"
#include "flakelab/results/merge.h"
#include "flakelab/results/reports.h"
#include "flakelab/results/shard_sets.h"
#include "flakelab/results/store.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace flakelab::python {
namespace {

// Opening a Store creates a missing file; a report of nothing would hide a wrong path.
void require_database(const std::string& path, std::string_view role) {
  if (!std::filesystem::exists(path)) {
    PyErr_SetString(PyExc_FileNotFoundError, fmt::format("no {} at '{}'", role, path).c_str());
    throw py::error_already_set();
  }
}

}  // namespace

std::string report(const std::string& db, const std::string& format_name, std::optional<int64_t> run_id,
                   const std::optional<std::string>& since, const std::optional<std::string>& title) {
  const auto format = results::report_format_from_string(format_name);
  if (!format) {
    throw harness::UsageError(
        fmt::format("unknown report format '{}' (text, json, junit, html, markdown)", format_name));
  }
  require_database(db, "results database");
  results::Store store(db);
  results::ReportOptions options;
  if (title) options.title = *title;
  if (run_id) {
    const std::vector<int64_t> ids = store.run_ids();
    if (std::find(ids.begin(), ids.end(), *run_id) == ids.end()) {
      throw harness::UsageError(fmt::format("no run {} in {} ({} runs recorded)", *run_id, db, ids.size()));
    }
    options.filter.run_ids = {*run_id};
  }
  if (since) {
    try {
      options.filter.since_ms = results::parse_date_ms(*since);
    } catch (const std::invalid_argument& e) {
      throw harness::UsageError(fmt::format("since: {}", e.what()));
    }
  }
  py::gil_scoped_release nogil;  // a large DB takes seconds
  return results::render_report(results::collect_report(store, options), *format);
}

std::string compare(const std::string& db, int64_t run_a, int64_t run_b, const std::string& db_b) {
  require_database(db, "results database");
  if (!db_b.empty()) require_database(db_b, "results database");
  harness::CompareRequest request;
  request.db_a = db;
  request.db_b = db_b;
  request.run_a = run_a;
  request.run_b = run_b;
  return harness::compare_runs(request);
}

py::dict gate(const std::string& db, const std::optional<std::string>& baseline, double alpha, double confidence,
              bool pool_cpus, const std::vector<std::string>& ignore_params) {
  require_database(db, "results database");
  if (baseline) require_database(*baseline, "baseline database");
  harness::GateRequest request;
  request.db = db;
  request.baseline = baseline;
  request.alpha = alpha;
  request.confidence = confidence;
  request.pool_cpus = pool_cpus;
  request.ignore_params = ignore_params;
  const harness::GateResult result = harness::evaluate_gate(request);
  return py::dict("passed"_a = result.passed(), "problems"_a = result.problems, "text"_a = result.text);
}

py::dict merge(const std::string& output, const std::vector<std::string>& inputs) {
  if (inputs.empty()) throw harness::UsageError("merge: give at least one input database");
  for (const std::string& input : inputs) require_database(input, "input database");
  const results::MergeStats stats = results::merge(output, inputs);
  results::Store store(output);
  const std::vector<results::ShardSet> sets = results::shard_sets(store);
  const bool complete = std::all_of(sets.begin(), sets.end(), [](const results::ShardSet& s) { return s.complete(); });
  return py::dict("inputs"_a = stats.inputs, "hosts_added"_a = stats.hosts_added, "runs_added"_a = stats.runs_added,
                  "runs_already_present"_a = stats.runs_already_present, "trials_added"_a = stats.trials_added,
                  "trials_already_present"_a = stats.trials_already_present,
                  "failures_added"_a = stats.failures_added, "signatures_added"_a = stats.signatures_added,
                  "shards_complete"_a = complete, "shard_sets"_a = results::format_shard_sets(sets));
}

}  // namespace flakelab::python
