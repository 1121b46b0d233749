#pragma once
// Whether a cell behaved as its runs said it would: the one rule behind `run`'s exit code
// and "UNEXPECTED" note, and every report's verdict (text, markdown, JSON, JUnit, HTML).
//
//   expect = pass   every trial passes; a failure, timeout or error is unexpected.
//   expect = flaky  failures are expected (measured, not fatal); a timeout or error is not.
//   no expectation  runs recorded before schema v4: treated as expect = pass.

#include <optional>
#include <string>
#include <string_view>

#include "flakelab/results/counts.h"

namespace flakelab::results {

enum class Expectation { kPass, kFlaky, kUnrecorded };

// A run's recorded `expect` ("pass", "flaky" or none).
Expectation expectation_of(const std::optional<std::string>& recorded);

// A cell's trial counts split by what their runs expected.
struct ExpectedCounts {
  Counts must_pass;  // expect = pass, and runs with no recorded expectation
  Counts flaky;      // expect = flaky
  void add(Expectation expectation, const Counts& counts);
  Counts all() const;
};

enum class Verdict {
  kNoTrials,
  kPassed,              // nothing failed
  kFlakyAsExpected,     // failures only where they were expected
  kUnexpectedFailure,   // a must-pass trial failed or timed out, or an expected-flaky trial timed out
  kUnexpectedError,     // a harness error, and no unexpected failure
};

Verdict verdict_of(const ExpectedCounts& counts);
inline bool as_expected(Verdict v) { return v != Verdict::kUnexpectedFailure && v != Verdict::kUnexpectedError; }
// "no trials", "pass", "flaky (expected)", "UNEXPECTED failure", "UNEXPECTED error".
const char* describe(Verdict v);
// Stable machine name: no_trials, pass, flaky_expected, unexpected_failure, unexpected_error.
const char* verdict_name(Verdict v);

}  // namespace flakelab::results
