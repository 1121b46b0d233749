#include "flakelab/results/stats.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace flakelab::results {
namespace {

double log_choose(int64_t n, int64_t k) {
  return std::lgamma(static_cast<double>(n + 1)) - std::lgamma(static_cast<double>(k + 1)) -
         std::lgamma(static_cast<double>(n - k + 1));
}

void check_counts(const char* what, int64_t failures_a, int64_t trials_a, int64_t failures_b, int64_t trials_b) {
  if (trials_a < 0 || trials_b < 0 || failures_a < 0 || failures_b < 0 || failures_a > trials_a ||
      failures_b > trials_b) {
    throw std::invalid_argument(std::string(what) + ": need 0 <= failures <= trials, got " +
                                std::to_string(failures_a) + "/" + std::to_string(trials_a) + " and " +
                                std::to_string(failures_b) + "/" + std::to_string(trials_b));
  }
}

}  // namespace

double fisher_exact_greater(int64_t failures_a, int64_t trials_a, int64_t failures_b, int64_t trials_b) {
  check_counts("fisher_exact_greater", failures_a, trials_a, failures_b, trials_b);
  const int64_t failures = failures_a + failures_b;
  const int64_t total = trials_a + trials_b;
  if (total == 0) return 1.0;
  const double log_denominator = log_choose(total, failures);
  const int64_t hi = std::min(failures, trials_a);
  double p = 0;
  for (int64_t x = failures_a; x <= hi; ++x) {
    p += std::exp(log_choose(trials_a, x) + log_choose(trials_b, failures - x) - log_denominator);
  }
  return std::min(1.0, p);
}

double fisher_exact_two_sided(int64_t failures_a, int64_t trials_a, int64_t failures_b, int64_t trials_b) {
  check_counts("fisher_exact_two_sided", failures_a, trials_a, failures_b, trials_b);
  const int64_t failures = failures_a + failures_b;
  const int64_t total = trials_a + trials_b;
  if (total == 0) return 1.0;
  // Hypergeometric: failures in A given the margins.
  const double log_denominator = log_choose(total, failures);
  auto log_p = [&](int64_t x) {
    return log_choose(trials_a, x) + log_choose(trials_b, failures - x) - log_denominator;
  };
  const int64_t lo = std::max<int64_t>(0, failures - trials_b);
  const int64_t hi = std::min(failures, trials_a);
  const double observed = log_p(failures_a);
  // Tables "as likely" within a relative tolerance count too (as R's fisher.test does).
  const double threshold = observed + std::log1p(1e-7);
  double p = 0;
  for (int64_t x = lo; x <= hi; ++x) {
    const double lp = log_p(x);
    if (lp <= threshold) p += std::exp(lp);
  }
  return std::min(1.0, p);
}

Interval wilson_interval(int64_t failures, int64_t trials, double z) {
  if (trials < 0 || failures < 0 || failures > trials) {
    throw std::invalid_argument(fmt::format(
        "wilson_interval: need 0 <= failures <= trials, got {} failures of {}", failures, trials));
  }
  if (!(z > 0) || !std::isfinite(z)) {
    throw std::invalid_argument(fmt::format("wilson_interval: z must be positive, got {}", z));
  }
  if (trials == 0) return {0.0, 1.0};  // no evidence: any rate is possible
  const double n = static_cast<double>(trials);
  const double p = static_cast<double>(failures) / n;
  const double z2 = z * z;
  const double denom = 1.0 + z2 / n;
  const double center = (p + z2 / (2.0 * n)) / denom;
  const double half = z / denom * std::sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n));
  Interval interval{std::max(0.0, center - half), std::min(1.0, center + half)};
  // At 0 and n failures the bound is exactly 0 (1); don't let rounding report 1e-17.
  if (failures == 0) interval.low = 0.0;
  if (failures == trials) interval.high = 1.0;
  return interval;
}

double zero_failure_upper_bound(int64_t trials, double confidence) {
  if (trials < 0 || !(confidence > 0 && confidence < 1)) {
    throw std::invalid_argument(fmt::format(
        "zero_failure_upper_bound: need trials >= 0 and 0 < confidence < 1, got {} and {}",
        trials, confidence));
  }
  if (trials == 0) return 1.0;
  // 1 - (1-c)^(1/n) via expm1, which stays accurate when the bound is tiny (large n).
  return -std::expm1(std::log1p(-confidence) / static_cast<double>(trials));
}

}  // namespace flakelab::results
