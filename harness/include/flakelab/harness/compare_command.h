// `flakelab compare RUN_A RUN_B`: the cells of two runs side by side with Fisher's exact
// test, the "did my fix work" answer. A run id stands for every cell of the `flakelab
// run` it belongs to (same invocation).
#pragma once

#include <cstdint>
#include <string>

namespace flakelab::harness {

struct CompareRequest {
  std::string db_a = "flakelab.db";
  std::string db_b;    // "" = db_a
  int64_t run_a = 0;
  int64_t run_b = 0;
};

// Prints the comparison; returns kExitOk. Throws UsageError for a missing run,
// HarnessError / results::StoreError for an unreadable database.
int compare_command(const CompareRequest& request);

// The comparison text (what compare_command prints).
std::string compare_runs(const CompareRequest& request);

}  // namespace flakelab::harness
