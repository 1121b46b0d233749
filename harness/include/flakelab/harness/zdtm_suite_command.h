// `flakelab zdtm-suite --src CRIU_CHECKOUT`: every eligible static zdtm test, once or N
// times, through the zdtm scenario with the chosen engine; pass/fail/skip per test and
// totals, every trial recorded like any run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace flakelab::harness {

struct ZdtmSuiteOptions {
  std::string src;         // a CRIU checkout (its test/zdtm/static), or a directory of zdtm-protocol programs
  std::string engine_cli;  // "" = the library engine
  int64_t trials = 1;      // per test
  std::string only;        // a regex the test names must match ("" = every test)
  std::string db = "flakelab.db";
  std::optional<uint64_t> seed;
  int jobs = 1;
  std::string command_line;
};

// The tests under `dir`, as zdtm.py finds them: executable regular files (built ELF
// binaries and scripts) but .hook, .checkskip and .so files, sorted by name. A CRIU
// checkout's test/zdtm.desc may exclude a few more (zdtm_suite_command does).
std::vector<std::string> list_zdtm_tests(const std::string& dir);

// Returns kExitOk when every test that ran passed every trial, kExitTrialsFailed when
// some did not, 128+signal if interrupted. Throws UsageError before anything is written.
int zdtm_suite_command(const ZdtmSuiteOptions& options);

}  // namespace flakelab::harness
