#include "flakelab/results/verdict.h"

namespace flakelab::results {

Expectation expectation_of(const std::optional<std::string>& recorded) {
  if (!recorded) return Expectation::kUnrecorded;
  return *recorded == "flaky" ? Expectation::kFlaky : Expectation::kPass;
}

void ExpectedCounts::add(Expectation expectation, const Counts& counts) {
  (expectation == Expectation::kFlaky ? flaky : must_pass).add(counts);
}

Counts ExpectedCounts::all() const {
  Counts sum = must_pass;
  sum.add(flaky);
  return sum;
}

Verdict verdict_of(const ExpectedCounts& counts) {
  if (counts.must_pass.trials + counts.flaky.trials == 0) return Verdict::kNoTrials;
  if (counts.must_pass.failing() > 0 || counts.flaky.timeouts > 0) return Verdict::kUnexpectedFailure;
  if (counts.must_pass.errors + counts.flaky.errors > 0) return Verdict::kUnexpectedError;
  if (counts.flaky.failures > 0) return Verdict::kFlakyAsExpected;
  return Verdict::kPassed;
}

const char* describe(Verdict v) {
  switch (v) {
    case Verdict::kNoTrials: return "no trials";
    case Verdict::kPassed: return "pass";
    case Verdict::kFlakyAsExpected: return "flaky (expected)";
    case Verdict::kUnexpectedFailure: return "UNEXPECTED failure";
    case Verdict::kUnexpectedError: return "UNEXPECTED error";
  }
  return "?";
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kNoTrials: return "no_trials";
    case Verdict::kPassed: return "pass";
    case Verdict::kFlakyAsExpected: return "flaky_expected";
    case Verdict::kUnexpectedFailure: return "unexpected_failure";
    case Verdict::kUnexpectedError: return "unexpected_error";
  }
  return "?";
}

}  // namespace flakelab::results
