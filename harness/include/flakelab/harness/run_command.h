// `flakelab run`: validate, record host and run, run N trials, summarize.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace flakelab::harness {

struct RunOptions {
  std::string scenario;
  int64_t trials = 100;
  std::string cpus;                   // "--cpus" text; "" = unpinned
  std::vector<std::string> params;    // "k=v" each
  std::string db = "flakelab.db";
  std::optional<uint64_t> seed;       // random if unset
  double timeout_s = 10;
  std::string command_line;           // recorded with the run
};

// Returns kExitOk or kExitTrialsFailed (or 128+signal if interrupted). Throws
// UsageError before anything is written, HarnessError / results::StoreError after.
int run_command(const RunOptions& options);

// Shell-quoted join of argv, for the run record.
std::string quote_command_line(int argc, const char* const* argv);

}  // namespace flakelab::harness
