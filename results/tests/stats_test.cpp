#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "flakelab/results/stats.h"

namespace flakelab::results {
namespace {

TEST(Wilson, KnownValues) {
  const Interval none = wilson_interval(0, 10);
  EXPECT_EQ(none.low, 0.0);
  EXPECT_NEAR(none.high, 0.2775, 1e-4);

  const Interval half = wilson_interval(5, 10);
  EXPECT_NEAR(half.low, 0.2366, 1e-4);
  EXPECT_NEAR(half.high, 0.7634, 1e-4);

  const Interval all = wilson_interval(10, 10);
  EXPECT_NEAR(all.low, 0.7225, 1e-4);
  EXPECT_EQ(all.high, 1.0);

  const Interval stack = wilson_interval(127, 2000);
  EXPECT_NEAR(stack.low, 0.053627, 1e-6);
  EXPECT_NEAR(stack.high, 0.075047, 1e-6);
}

TEST(Wilson, NoTrialsMeansNoInformation) {
  const Interval empty = wilson_interval(0, 0);
  EXPECT_EQ(empty.low, 0.0);
  EXPECT_EQ(empty.high, 1.0);
}

TEST(Wilson, SymmetricAndContainsTheRate) {
  for (int64_t n : {1, 2, 7, 100, 12345}) {
    for (int64_t f = 0; f <= n; f += (n > 100 ? 997 : 1)) {
      const Interval a = wilson_interval(f, n);
      const Interval b = wilson_interval(n - f, n);
      EXPECT_NEAR(a.low, 1.0 - b.high, 1e-12) << f << "/" << n;
      const double rate = static_cast<double>(f) / static_cast<double>(n);
      EXPECT_LE(a.low, rate);
      EXPECT_GE(a.high, rate);
      EXPECT_GE(a.low, 0.0);
      EXPECT_LE(a.high, 1.0);
    }
  }
}

TEST(Wilson, WiderForHigherConfidence) {
  const Interval z95 = wilson_interval(3, 50);
  const Interval z99 = wilson_interval(3, 50, 2.5758293035489);
  EXPECT_LT(z99.low, z95.low);
  EXPECT_GT(z99.high, z95.high);
}

TEST(Wilson, RejectsImpossibleCounts) {
  EXPECT_THROW(wilson_interval(11, 10), std::invalid_argument);
  EXPECT_THROW(wilson_interval(-1, 10), std::invalid_argument);
  EXPECT_THROW(wilson_interval(0, -1), std::invalid_argument);
  EXPECT_THROW(wilson_interval(1, 10, 0.0), std::invalid_argument);
}

TEST(ZeroFailureBound, MatchesClosedForm) {
  EXPECT_NEAR(zero_failure_upper_bound(10), 0.258866, 1e-6);
  EXPECT_NEAR(zero_failure_upper_bound(2000), 0.0014967449, 1e-10);
  EXPECT_EQ(zero_failure_upper_bound(0), 1.0);
  EXPECT_NEAR(zero_failure_upper_bound(1), 0.95, 1e-12);
  // Rule of three: about 3/n for large n.
  EXPECT_NEAR(zero_failure_upper_bound(1'000'000) * 1'000'000, 2.9957, 1e-3);
  EXPECT_NEAR(zero_failure_upper_bound(10, 0.99), 1.0 - std::pow(0.01, 0.1), 1e-12);
  EXPECT_THROW(zero_failure_upper_bound(-1), std::invalid_argument);
  EXPECT_THROW(zero_failure_upper_bound(10, 1.0), std::invalid_argument);
}

// Reference values: R's fisher.test on the tea-tasting table (3 1 / 1 3: 0.4857), the
// dieting example of Wikipedia's "Fisher's exact test" (1 9 / 11 3: 0.002759), and one
// computed with exact integer binomials (10 90 / 0 100).
TEST(Fisher, MatchesReferenceValues) {
  EXPECT_NEAR(fisher_exact_two_sided(3, 4, 1, 4), 0.4857143, 1e-6);
  EXPECT_NEAR(fisher_exact_two_sided(1, 10, 11, 14), 0.0027595, 1e-6);
  EXPECT_NEAR(fisher_exact_two_sided(10, 100, 0, 100), 0.0015421, 1e-6);
  EXPECT_DOUBLE_EQ(fisher_exact_two_sided(5, 10, 5, 10), 1.0);
  EXPECT_DOUBLE_EQ(fisher_exact_two_sided(0, 0, 0, 0), 1.0);
}

TEST(Fisher, TheLegacyVersusFixedStackCheckIsSignificant) {
  // 58% of 2000 failing against 0 of 2000.
  EXPECT_LT(fisher_exact_two_sided(1162, 2000, 0, 2000), 1e-300 + 1e-100);
  // 3 of 1000 against 1 of 1000 is not.
  EXPECT_GT(fisher_exact_two_sided(3, 1000, 1, 1000), 0.3);
}

// One-sided: R's fisher.test(alternative = "greater") on the tea-tasting table (0.2429),
// and C(100,10)/C(200,10) for 10/100 against 0/100 (every failure in A).
TEST(Fisher, OneSidedGreaterMatchesReferenceValues) {
  EXPECT_NEAR(fisher_exact_greater(3, 4, 1, 4), 0.2428571, 1e-6);
  EXPECT_NEAR(fisher_exact_greater(10, 100, 0, 100), 0.000771026, 1e-8);
  // A failing less than B is no evidence that A fails more.
  EXPECT_GT(fisher_exact_greater(0, 100, 10, 100), 0.99);
  EXPECT_DOUBLE_EQ(fisher_exact_greater(0, 100, 0, 100), 1.0);
  EXPECT_THROW(fisher_exact_greater(5, 4, 0, 1), std::invalid_argument);
}

TEST(Fisher, IsSymmetricAndRejectsBadCounts) {
  EXPECT_DOUBLE_EQ(fisher_exact_two_sided(2, 30, 9, 25), fisher_exact_two_sided(9, 25, 2, 30));
  EXPECT_THROW(fisher_exact_two_sided(5, 4, 0, 1), std::invalid_argument);
  EXPECT_THROW(fisher_exact_two_sided(-1, 4, 0, 1), std::invalid_argument);
}

}  // namespace
}  // namespace flakelab::results
