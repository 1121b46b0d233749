#include "flakelab/results/sequential_test.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace flakelab::results {

const char* to_string(SprtVerdict verdict) {
  switch (verdict) {
    case SprtVerdict::kGood: return "good";
    case SprtVerdict::kBad: return "bad";
    case SprtVerdict::kUndecided: break;
  }
  return "undecided";
}

Sprt::Sprt(double p0, double p1, double alpha, double beta) : p0_(p0), p1_(p1) {
  if (!(p0 >= 0 && p0 < p1 && p1 <= 1)) {
    throw std::invalid_argument(fmt::format("SPRT: need 0 <= p0 < p1 <= 1, got p0={} p1={}", p0, p1));
  }
  if (!(alpha > 0 && alpha < 0.5 && beta > 0 && beta < 0.5)) {
    throw std::invalid_argument(fmt::format("SPRT: need 0 < alpha, beta < 0.5, got {} and {}", alpha, beta));
  }
  // Wald's boundaries.
  upper_ = std::log((1 - beta) / alpha);
  lower_ = std::log(beta / (1 - alpha));
}

double Sprt::log_likelihood_ratio(int64_t failing, int64_t trials) const {
  if (failing < 0 || trials < failing) {
    throw std::invalid_argument(fmt::format("SPRT: need 0 <= failing <= trials, got {}/{}", failing, trials));
  }
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const int64_t passing = trials - failing;
  // A failure is impossible under p0 = 0, a pass under p1 = 1: that observation decides.
  if (failing > 0 && p0_ == 0) return kInf;
  if (passing > 0 && p1_ == 1) return -kInf;
  double llr = 0;
  if (failing > 0) llr += static_cast<double>(failing) * std::log(p1_ / p0_);
  if (passing > 0) llr += static_cast<double>(passing) * (std::log1p(-p1_) - std::log1p(-p0_));
  return llr;
}

SprtVerdict Sprt::verdict(int64_t failing, int64_t trials) const {
  const double llr = log_likelihood_ratio(failing, trials);
  if (llr >= upper_) return SprtVerdict::kBad;
  if (llr <= lower_) return SprtVerdict::kGood;
  return SprtVerdict::kUndecided;
}

double default_bad_rate(double baseline_rate) {
  return std::min(1.0, std::max(2 * baseline_rate, baseline_rate + 0.05));
}

}  // namespace flakelab::results
