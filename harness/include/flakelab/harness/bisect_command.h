// `flakelab bisect-verdict SCENARIO --baseline-rate P` for `git bisect run`: runs trials
// of one cell (recorded in the database like any run) and checks a sequential test
// (sequential_test.h) after every trial, until the commit is
//   good (exit 0): the rate is consistent with the baseline P rather than the bad rate,
//   bad  (exit 1): the rate is consistent with the bad rate (default: default_bad_rate(P)),
//   skip (exit 125): still undecided after --max-trials, or too many trials errored.
// Anything else (bad command line, harness failure, interrupt) exits >= 128, which makes
// `git bisect run` stop instead of marking the commit bad.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace flakelab::harness {

// Exit codes git bisect run understands.
enum BisectExit : int {
  kBisectGood = 0,
  kBisectBad = 1,
  kBisectSkip = 125,
  kBisectAbort = 128,  // usage or harness error: stop the bisection
};

struct BisectRequest {
  std::string scenario;
  std::vector<std::string> params;      // NAME=VALUE
  double baseline_rate = -1;            // P (required)
  std::optional<double> bad_rate;       // P1 > P
  double confidence = 0.95;             // alpha = beta = 1 - confidence
  int64_t max_trials = 2000;
  std::string placement = "unpinned";
  std::string db = "flakelab.db";
  std::optional<uint64_t> seed;
  double timeout_s = 10;
  std::string command_line;
};

// Runs the trials and prints the verdict; returns a BisectExit code (or 128 + signal
// when interrupted). Throws UsageError / HarnessError / results::StoreError.
int bisect_command(const BisectRequest& request);

}  // namespace flakelab::harness
