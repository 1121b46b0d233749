// The one rule for "did the cell behave as expected", as `run`, `gate` and the reports apply it.
#include "flakelab/results/verdict.h"

#include <gtest/gtest.h>

namespace flakelab::results {
namespace {

Counts counts(int64_t passes, int64_t failures, int64_t timeouts = 0, int64_t errors = 0) {
  Counts c;
  c.passes = passes;
  c.failures = failures;
  c.timeouts = timeouts;
  c.errors = errors;
  c.trials = passes + failures + timeouts + errors;
  return c;
}

Verdict of(Expectation e, const Counts& c) {
  ExpectedCounts by;
  by.add(e, c);
  return verdict_of(by);
}

TEST(Verdict, MustPassCellIsUnexpectedOnOneFailureWhateverTheMix) {
  EXPECT_EQ(of(Expectation::kPass, counts(100, 0)), Verdict::kPassed);
  EXPECT_EQ(of(Expectation::kPass, counts(99, 1)), Verdict::kUnexpectedFailure);
  EXPECT_EQ(of(Expectation::kPass, counts(0, 5)), Verdict::kUnexpectedFailure);
  EXPECT_EQ(of(Expectation::kPass, counts(9, 0, 1)), Verdict::kUnexpectedFailure);
  EXPECT_EQ(of(Expectation::kPass, counts(9, 0, 0, 1)), Verdict::kUnexpectedError);
  EXPECT_FALSE(as_expected(of(Expectation::kPass, counts(99, 1))));
}

TEST(Verdict, ExpectedFlakyCellMayFailEveryTrialButNotTimeOutOrError) {
  EXPECT_EQ(of(Expectation::kFlaky, counts(90, 10)), Verdict::kFlakyAsExpected);
  EXPECT_EQ(of(Expectation::kFlaky, counts(0, 200)), Verdict::kFlakyAsExpected);
  EXPECT_TRUE(as_expected(of(Expectation::kFlaky, counts(0, 200))));
  EXPECT_EQ(of(Expectation::kFlaky, counts(100, 0)), Verdict::kPassed);
  EXPECT_EQ(of(Expectation::kFlaky, counts(90, 9, 1)), Verdict::kUnexpectedFailure);
  EXPECT_EQ(of(Expectation::kFlaky, counts(90, 9, 0, 1)), Verdict::kUnexpectedError);
}

TEST(Verdict, RunsWithoutARecordedExpectationMustPass) {
  EXPECT_EQ(expectation_of(std::nullopt), Expectation::kUnrecorded);
  EXPECT_EQ(expectation_of(std::string("flaky")), Expectation::kFlaky);
  EXPECT_EQ(expectation_of(std::string("pass")), Expectation::kPass);
  EXPECT_EQ(of(Expectation::kUnrecorded, counts(9, 1)), Verdict::kUnexpectedFailure);
}

TEST(Verdict, ACellMixingExpectationsIsJudgedPerPart) {
  ExpectedCounts by;
  by.add(Expectation::kFlaky, counts(0, 100));
  by.add(Expectation::kPass, counts(2000, 0));
  EXPECT_EQ(verdict_of(by), Verdict::kFlakyAsExpected);
  by.add(Expectation::kPass, counts(0, 1));
  EXPECT_EQ(verdict_of(by), Verdict::kUnexpectedFailure);
  EXPECT_EQ(by.all().trials, 2101);
  EXPECT_EQ(verdict_of(ExpectedCounts{}), Verdict::kNoTrials);
  EXPECT_TRUE(as_expected(Verdict::kNoTrials));
}

}  // namespace
}  // namespace flakelab::results
