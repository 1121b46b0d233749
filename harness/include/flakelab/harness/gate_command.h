// `flakelab gate --db NEW.db [--baseline OLD.db]`: the nightly job's verdict. Fails (exit 1)
// with one explanation per problem when
//   - a shard set in NEW misses shards or has a shard that never ended;
//   - a cell that must not fail (its runs recorded expect = pass) has any non-pass trial;
//   - a cell fails significantly more often than in the baseline (Fisher's exact test,
//     one-sided, Holm-corrected over the cells compared at family-wise level alpha);
//   - a failure signature appears that the baseline never had.
// Otherwise exits 0 and prints the zero-failure upper bound of every must-not-fail cell.
// Without a baseline the last two checks are skipped (and said to be).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace flakelab::harness {

struct GateRequest {
  std::string db;
  std::optional<std::string> baseline;
  double alpha = 0.01;                      // family-wise, over the cells compared
  double confidence = 0.95;                 // of the zero-failure upper bounds
  bool pool_cpus = false;                   // match cells across CPU models
  std::vector<std::string> ignore_params;   // parameters left out of the cell key
};

struct GateResult {
  std::vector<std::string> problems;  // each one readable on its own
  std::string text;                   // the whole explanation, problems included
  bool passed() const { return problems.empty(); }
};

// Throws UsageError (bad alpha/confidence, missing file) or results::StoreError.
GateResult evaluate_gate(const GateRequest& request);

// Prints evaluate_gate's text; kExitOk when it passed, else kExitTrialsFailed.
int gate_command(const GateRequest& request);

}  // namespace flakelab::harness
