// The sequential test behind `flakelab bisect-verdict`: Wald's sequential probability
// ratio test (SPRT) of H0 "the failure rate is at most p0" (good) against H1 "it is at
// least p1" (bad), checked after every trial, truncated at a trial budget (undecided: skip).
//
// A flaky test needs a rate on each side: a commit as good as the baseline fails at about
// p0, so "below p0 with confidence" can never be shown; the SPRT instead decides between
// p0 and p1 with error probabilities alpha (calling a p0 commit bad) and beta (calling a
// p1 commit good), and needs few trials when the rate is far from both.
#pragma once

#include <cstdint>
#include <string>

namespace flakelab::results {

enum class SprtVerdict { kUndecided, kGood, kBad };
const char* to_string(SprtVerdict verdict);  // "undecided", "good", "bad"

class Sprt {
 public:
  // 0 <= p0 < p1 <= 1, 0 < alpha, beta < 0.5. Throws std::invalid_argument.
  Sprt(double p0, double p1, double alpha, double beta);

  // The verdict after `failing` failing trials out of `trials`.
  SprtVerdict verdict(int64_t failing, int64_t trials) const;
  // log(L(H1)/L(H0)) of that sample (+-infinity where one hypothesis is impossible).
  double log_likelihood_ratio(int64_t failing, int64_t trials) const;
  double upper() const { return upper_; }  // accept H1 (bad) at or above
  double lower() const { return lower_; }  // accept H0 (good) at or below
  double p0() const { return p0_; }
  double p1() const { return p1_; }

 private:
  double p0_, p1_, upper_, lower_;
};

// The default bad rate for a baseline rate: twice it, and at least 5 points above it (capped at 1).
double default_bad_rate(double baseline_rate);

}  // namespace flakelab::results
