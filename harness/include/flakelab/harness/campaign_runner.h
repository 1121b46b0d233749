// The harness's programmatic run API, shared by `flakelab run` and the Python module:
// runs a planned campaign cell by cell, -j workers at a time (one single-threaded event
// loop, each worker on its own PUs), records every trial, and returns per-cell results.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flakelab/harness/campaign.h"
#include "flakelab/harness/trial_runner.h"

namespace flakelab::harness {

class Topology;

struct CellProgress {
  size_t cell = 0;            // 0-based index into plan.cells
  size_t cells = 0;
  const PlannedCell* plan = nullptr;
  int64_t run_id = 0;
  int64_t done = 0;           // trials recorded
  int64_t total = 0;          // trials asked for
  int64_t failing = 0;        // fail + timeout
  int64_t errors = 0;
  double elapsed_s = 0;       // since the cell started
  std::optional<double> budget_s;  // the cell's share of --max-time
};

// The whole run so far, for a status line every RunHooks::progress_interval.
struct RunProgress {
  size_t cells_done = 0;
  size_t cells = 0;
  int64_t done = 0;           // trials recorded, every cell
  int64_t total = 0;          // trials planned, every cell (until-failures and --max-time may stop sooner)
  int64_t failing = 0;        // fail + timeout
  int64_t errors = 0;
  double elapsed_s = 0;       // since the run started
  std::optional<double> budget_left_s;  // what is left of --max-time
};

struct CellResult {
  const PlannedCell* plan = nullptr;
  int64_t run_id = 0;
  int64_t trials = 0;
  int64_t passes = 0;
  int64_t failures = 0;
  int64_t timeouts = 0;
  int64_t errors = 0;
  int64_t ignored = 0;        // non-pass trials recorded as pass by --ignore
  std::optional<int64_t> first_failing_index;   // lowest failing (fail/timeout) index
  std::optional<int64_t> trials_needed;         // --until-failures K reached: index of the Kth + 1
  std::string stopped_by;     // "", "until-failures", "max-time", "interrupted", "stopped", "hung trial kept"
  double wall_s = 0;
  std::string artifacts_dir;  // where kept trial dirs went ("" if none kept)
  int64_t failing() const { return failures + timeouts; }
  // Whether the cell did what its `expect` says (pass: no non-pass trial; flaky: no
  // timeout or error).
  bool as_expected() const;
};

struct CampaignResult {
  std::string invocation;     // recorded with every run of this campaign
  std::vector<CellResult> cells;
  int interrupted_by = 0;     // the signal that stopped the campaign, or 0
  bool stopped_by_hook = false;
  // --keep-hung: trials left stopped; destroying them kills and reaps them.
  std::vector<std::unique_ptr<RunningTrial>> kept;
};

struct RunHooks {
  // Before a cell's first trial.
  std::function<void(const PlannedCell&, size_t cell, int64_t run_id)> on_cell_start;
  // After each recorded trial; returning false stops the campaign (after killing the
  // trials in flight, which are not recorded).
  std::function<bool(const CellProgress&)> on_trial;
  std::function<void(const CellResult&)> on_cell_end;
  // Asked when a wait was interrupted by a signal that is not the CLI's SIGINT/SIGTERM
  // (e.g. Python's Ctrl-C handler): true stops the campaign like on_trial's false.
  std::function<bool()> should_stop;
  // Every progress_interval from the start of the run to its end: one clock for the whole
  // run (not restarted per cell), woken even while a slow trial runs. Zero: never.
  std::chrono::milliseconds progress_interval{0};
  std::function<void(const RunProgress&)> on_progress;
};

// Runs `plan` (not a simulated one) on `topology`, recording into plan.spec.db. A
// finished trial reaches the database within results::Store::kDefaultMaxPendingAge, so a
// killed run loses at most the trials in flight and that last moment's; its temporary
// root is removed by the next run (RunTempRoot).
// Throws HarnessError / results::StoreError when the harness itself fails.
CampaignResult run_campaign(const CampaignPlan& plan, const Topology& topology, const RunHooks& hooks = {});

// 0 when every cell behaved as expected, else 1 (interruption is the caller's to map).
int campaign_exit_code(const CampaignResult& result);

// The statistics table: one row per cell (trials, failing, rate with its 95% Wilson
// interval, or the zero-failure bound, first failing index, until-failures count),
// then the skipped cells with their reasons, then expectations.
std::string format_cell_table(const CampaignPlan& plan, const CampaignResult& result);

}  // namespace flakelab::harness
