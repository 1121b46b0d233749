#include "flakelab/results/sequential_test.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>

namespace flakelab::results {
namespace {

TEST(Sprt, WaldBoundariesAndLikelihoodRatio) {
  const Sprt sprt(0.05, 0.10, 0.05, 0.05);
  EXPECT_NEAR(sprt.upper(), std::log(0.95 / 0.05), 1e-12);
  EXPECT_NEAR(sprt.lower(), std::log(0.05 / 0.95), 1e-12);
  // 3 failures, 7 passes: 3 ln 2 + 7 ln(0.9/0.95).
  EXPECT_NEAR(sprt.log_likelihood_ratio(3, 10), 3 * std::log(2.0) + 7 * std::log(0.9 / 0.95), 1e-12);
  EXPECT_EQ(sprt.verdict(0, 0), SprtVerdict::kUndecided);
  // 5 failures in a row is strong evidence for 10% over 5% (5 ln 2 = 3.47 > 2.94).
  EXPECT_EQ(sprt.verdict(5, 5), SprtVerdict::kBad);
  // ln(0.9/0.95) = -0.054 per pass: good after 55 passes, not after 54.
  EXPECT_EQ(sprt.verdict(0, 54), SprtVerdict::kUndecided);
  EXPECT_EQ(sprt.verdict(0, 55), SprtVerdict::kGood);
}

TEST(Sprt, ZeroBaselineAndCertainBadRate) {
  const Sprt zero(0.0, 0.05, 0.05, 0.05);
  EXPECT_EQ(zero.verdict(1, 1000), SprtVerdict::kBad) << "a failure is impossible at rate 0";
  EXPECT_EQ(zero.verdict(0, 57), SprtVerdict::kUndecided);
  EXPECT_EQ(zero.verdict(0, 58), SprtVerdict::kGood);  // 58 ln 0.95 = -2.975 < -2.944
  const Sprt certain(0.5, 1.0, 0.05, 0.05);
  EXPECT_EQ(certain.verdict(3, 4), SprtVerdict::kGood) << "a pass is impossible at rate 1";
}

TEST(Sprt, RejectsBadParameters) {
  EXPECT_THROW(Sprt(0.1, 0.1, 0.05, 0.05), std::invalid_argument);
  EXPECT_THROW(Sprt(-0.1, 0.1, 0.05, 0.05), std::invalid_argument);
  EXPECT_THROW(Sprt(0.1, 1.1, 0.05, 0.05), std::invalid_argument);
  EXPECT_THROW(Sprt(0.1, 0.2, 0.0, 0.05), std::invalid_argument);
  EXPECT_THROW(Sprt(0.1, 0.2, 0.05, 0.5), std::invalid_argument);
  EXPECT_THROW(Sprt(0.1, 0.2, 0.05, 0.05).verdict(3, 2), std::invalid_argument);
}

TEST(Sprt, DefaultBadRate) {
  EXPECT_DOUBLE_EQ(default_bad_rate(0.0), 0.05);
  EXPECT_DOUBLE_EQ(default_bad_rate(0.02), 0.07);
  EXPECT_DOUBLE_EQ(default_bad_rate(0.2), 0.4);
  EXPECT_DOUBLE_EQ(default_bad_rate(0.7), 1.0);
}

// The error rates hold in simulation: at p0 the test rarely says bad, at p1 rarely good
// (Wald's bounds keep each error near or below its nominal 5%; 2000 runs each, fixed seed).
TEST(Sprt, ErrorRatesHoldInSimulation) {
  const Sprt sprt(0.05, 0.10, 0.05, 0.05);
  std::mt19937_64 rng(12345);
  auto run = [&](double p) {
    std::bernoulli_distribution coin(p);
    int64_t failing = 0;
    for (int64_t n = 1; n <= 100000; ++n) {
      failing += coin(rng) ? 1 : 0;
      const SprtVerdict v = sprt.verdict(failing, n);
      if (v != SprtVerdict::kUndecided) return v;
    }
    return SprtVerdict::kUndecided;
  };
  int bad_at_p0 = 0, good_at_p1 = 0;
  for (int i = 0; i < 2000; ++i) {
    bad_at_p0 += run(0.05) == SprtVerdict::kBad ? 1 : 0;
    good_at_p1 += run(0.10) == SprtVerdict::kGood ? 1 : 0;
  }
  EXPECT_LT(bad_at_p0, 2000 * 0.07);
  EXPECT_LT(good_at_p1, 2000 * 0.07);
  EXPECT_GT(bad_at_p0, 0) << "the test is not vacuous";
}

}  // namespace
}  // namespace flakelab::results
