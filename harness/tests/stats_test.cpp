#include "flakelab/harness/stats.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace flakelab::harness {
namespace {

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
}  // namespace flakelab::harness
