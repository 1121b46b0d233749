// Triage queries over a results store.
//
// A *cell* is what the failure rate is a property of: scenario x placement x parameters x CPU
// model (hosts.cpu_brand). Runs of the same cell on different hosts/days pool together.
// "Failing" means outcome fail or timeout, as in RunSummary; error (the harness could not run
// the trial) is counted but is not part of the rate.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flakelab/results/counts.h"
#include "flakelab/results/store.h"
#include "flakelab/results/verdict.h"

namespace flakelab::results {

// Which runs a query looks at. Both parts are combined with AND.
struct Filter {
  std::vector<int64_t> run_ids;     // empty: all runs
  std::optional<int64_t> since_ms;  // only runs started at or after (unix epoch ms)
};

// Compares strings with digit runs taken as numbers ("a2" < "a10"); ties broken bytewise.
std::weak_ordering natural_compare(std::string_view a, std::string_view b);

// "2026-11-23", "2026-11-23T20:16:07", "2026-11-23 20:16:07Z" (UTC) or a number of epoch
// milliseconds. Throws std::invalid_argument naming the text.
int64_t parse_date_ms(std::string_view text);
// "2026-11-23T20:16:07.123Z" (UTC).
std::string format_time_ms(int64_t epoch_ms);

struct CellKey {
  std::string scenario;
  std::string placement;
  std::string params;
  std::string cpu_model;
  // Field by field; within a field digit runs compare as numbers, so that
  // "restore_delay_us=500" sorts before "restore_delay_us=1000".
  std::weak_ordering operator<=>(const CellKey& other) const;
  bool operator==(const CellKey&) const = default;
  // Value of `name` in params ("k=v,k=v"), if present.
  std::optional<std::string> param(std::string_view name) const;
};

struct CellRate {
  CellKey cell;
  int64_t runs = 0;
  Counts counts;
  double rate = 0;         // failing / trials (0 without trials)
  double wilson_low = 0;   // 95% Wilson score interval
  double wilson_high = 1;
  // With no failing trial: the one-sided 95% upper bound 1-0.05^(1/n); otherwise wilson_high.
  double upper_bound = 1;
  int64_t wall_ms = 0;     // sum of ended_at - started_at over the cell's ended runs
  ExpectedCounts by_expectation;  // the same trials, split by what their runs expected
  Verdict verdict = Verdict::kNoTrials;
  bool flaky() const { return counts.passes > 0 && counts.failing() > 0; }
};

struct SignatureStats {
  int64_t id = 0;
  std::string hash;            // 16 hex digits
  std::string normalized;
  std::string example_message; // the earliest matching failure's full message
  int64_t total_count = 0;     // signatures.count: every failure in the file
  int64_t count = 0;           // failures within the filter
  int64_t first_seen_ms = 0;   // within the filter
  int64_t last_seen_ms = 0;
  int64_t cells = 0;           // distinct cells it occurred in (within the filter)
};

struct SignatureTrial {
  int64_t run_id = 0;
  std::string run_uid;
  CellKey cell;
  int64_t index = 0;
  Outcome outcome = Outcome::kFail;
  double duration_ms = 0;
  std::string message;
  std::string log_excerpt;
  std::string artifact_path;
  int64_t recorded_at_ms = 0;
};

// A cell's most frequent signatures (for JUnit failures and the text report).
struct CellSignature {
  CellKey cell;
  std::string hash;
  std::string normalized;
  int64_t count = 0;
  std::string example_message;
};

struct FirstFailure {
  CellKey cell;
  int64_t runs = 0;
  int64_t runs_with_failure = 0;
  // Over the runs with a failure: trials up to and including the first failing one
  // (index + 1), and the sum of those trials' duration_ms.
  double mean_trials = 0;
  int64_t min_trials = 0;
  int64_t max_trials = 0;
  double mean_ms = 0;
};

struct RunRate {
  int64_t run_id = 0;
  std::string run_uid;
  CellKey cell;
  int64_t started_at_ms = 0;
  std::optional<int64_t> ended_at_ms;
  std::optional<std::string> expect;  // "pass", "flaky", or none (recorded before schema v4)
  // The host's name and machine kind (schema v6; see machine_kind.h).
  std::string hostname;
  std::string hypervisor;  // "" on bare metal and for hosts recorded before v6
  int vcpus = 0;           // 0 for hosts recorded before v6
  // How the run was made, for the report's runs table.
  uint64_t seed = 0;
  std::string command_line;
  std::string version;     // flakelab's
  Counts counts;
  double rate = 0;
  double wilson_low = 0;
  double wilson_high = 1;
};

// Pools runs into cells (ordered by cell); what Query::rates does with Query::runs.
std::vector<CellRate> pool_by_cell(const std::vector<RunRate>& runs);

// Reads through the Store's connection. Each call flushes the store's pending trials and
// reads one consistent snapshot. Results are sorted deterministically (documented per call).
// A cell that was planned but skipped on its machine (see Store::add_skipped_cell); the
// latest reason per cell.
struct SkippedCellRow {
  CellKey cell;                      // cpu_model from the host that skipped it
  std::optional<std::string> expect;
  std::string reason;
  int64_t recorded_at_ms = 0;
};

class Query {
 public:
  explicit Query(Store& store);

  // Ordered by cell.
  std::vector<CellRate> rates(const Filter& filter = {});
  // Most frequent (within the filter) first, then by hash; signatures with no failure in
  // the filter are left out.
  std::vector<SignatureStats> signatures(const Filter& filter = {});
  // Trials of one signature (by hash), ordered by run start, run id, trial index; at most
  // `limit` (0: all).
  std::vector<SignatureTrial> trials_for_signature(const std::string& hash, const Filter& filter = {},
                                                   std::size_t limit = 0);
  // Per cell, ordered by cell, then most frequent first, then hash; at most `per_cell` each.
  std::vector<CellSignature> cell_signatures(const Filter& filter = {}, std::size_t per_cell = 3);
  // Ordered by cell.
  std::vector<FirstFailure> first_failures(const Filter& filter = {});
  // Every run in the filter, ordered by start time then id.
  std::vector<RunRate> runs(const Filter& filter = {});
  // Skipped cells, one per cell key, ordered by cell. With run_ids in the filter: those
  // skipped by the same invocations; since_ms applies to when they were recorded.
  std::vector<SkippedCellRow> skipped_cells(const Filter& filter = {});
  // The runs of one cell, ordered by start time then id: the rate over time.
  std::vector<RunRate> rate_over_time(const CellKey& cell, const Filter& filter = {});

 private:
  Store& store_;
};

}  // namespace flakelab::results
