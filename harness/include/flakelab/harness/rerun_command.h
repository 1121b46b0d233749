// `flakelab rerun RUN TRIAL`: runs one recorded trial again, exactly: the run's recorded
// command line gives its campaign (scenario, params, timeout, noise, jitter, --failure
// and --ignore), the run's seed and the trial's index give the same trial seed (and so
// the same jitter delays and FLAKELAB_SEED), and the PUs the trial recorded give its
// placement. The rerun is recorded as a new run, with its artifacts kept.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace flakelab::harness {

struct RerunOptions {
  int64_t run_id = 0;
  int64_t trial = 0;
  std::string db = "flakelab.db";
  // A wrapper command, shell syntax (`strace -f -o trace.txt`, `perf record -g`): for
  // cmd it is prefixed to the command inside the trial; for a built-in scenario the
  // trial runs in flakelab's own process, so flakelab re-executes this rerun under it
  // (use `strace -f`/`perf record` to follow the forked trial process).
  std::string wrap;
  std::string keep_artifacts = "always";
  std::optional<std::string> artifacts_dir;
  std::string command_line;  // recorded with the new run
  std::string self_exe;      // this flakelab binary, for re-executing under `wrap`
};

// Returns kExitOk when the trial ended as recorded (same outcome), kExitTrialsFailed
// when it did not, 128+signal if interrupted. Throws UsageError (no such run or trial,
// a command line that no longer gives the run's cell), HarnessError, StoreError.
int rerun_command(const RerunOptions& options);

}  // namespace flakelab::harness
