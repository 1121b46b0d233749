// `flakelab report`, and the exit-code rule shared with `flakelab run`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "flakelab/results/store.h"

namespace flakelab::harness {

// True if some trial of the run failed, timed out or errored (whatever the run expected).
bool has_failures(const results::RunSummary& summary);

// Prints results::format_summary_text of run `run_id`, or of every run, to stdout.
// Returns kExitTrialsFailed when a run did not behave as expected (results/verdict.h: an
// expected-flaky run that failed is fine), else kExitOk. Throws UsageError (no such run) or
// HarnessError / results::StoreError (database missing or unreadable).
int report_command(const std::string& db_path, std::optional<int64_t> run_id);

struct ReportRequest {
  std::string db_path = "flakelab.db";
  std::optional<int64_t> run_id;
  std::optional<std::string> since;   // a date or epoch ms (results::parse_date_ms)
  std::string format = "text";        // text | json | junit | html
  std::optional<std::string> output;  // file; stdout if unset
};

// `flakelab report --format ...`: renders the triage report (results/REPORTS.md) of
// the selected runs. Same exit codes as report_command(); UsageError for a bad format,
// date or run id.
int formatted_report_command(const ReportRequest& request);

// `flakelab merge -o OUT IN...`: prints what was added and, for sharded campaigns, whether
// every shard set is complete. Returns kExitOk, or kExitTrialsFailed when `require_complete`
// and some set misses shards.
int merge_command(const std::string& output, const std::vector<std::string>& inputs, bool require_complete = false);

}  // namespace flakelab::harness
