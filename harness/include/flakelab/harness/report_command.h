// `flakelab report`, and the exit-code rule shared with `flakelab run`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "flakelab/results/store.h"

namespace flakelab::harness {

// True if some trial of the run failed, timed out or errored.
bool has_failures(const results::RunSummary& summary);

// Prints results::format_summary_text of run `run_id`, or of every run, to stdout.
// Returns kExitOk or kExitTrialsFailed. Throws UsageError (no such run) or
// HarnessError / results::StoreError (database missing or unreadable).
int report_command(const std::string& db_path, std::optional<int64_t> run_id);

}  // namespace flakelab::harness
