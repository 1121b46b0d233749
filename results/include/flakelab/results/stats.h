// The statistics behind every claim flakelab prints about a failure rate: the Wilson
// interval of a rate, the upper bound after no failure, and Fisher's exact test for "did
// my fix work". (The SPRT of bisect-verdict is sequential_test.h; printing them is
// rate_format.h.)
#pragma once

#include <cstdint>

namespace flakelab::results {

// 95% Wilson score interval for `failures` out of `trials` (z = 1.959964).
struct Interval {
  double low = 0;
  double high = 0;
};
// trials == 0 gives [0, 1]. Throws std::invalid_argument unless 0 <= failures <= trials.
Interval wilson_interval(int64_t failures, int64_t trials, double z = 1.959963984540054);

// One-sided upper bound on the failure rate after `trials` trials without a failure:
// 1 - (1 - confidence)^(1/trials), the exact binomial bound, about 3/trials at 95% ("rule
// of three"). 1 for 0 trials.
double zero_failure_upper_bound(int64_t trials, double confidence = 0.95);


// Two-sided p-value of Fisher's exact test for the 2x2 table
//   failures_a  trials_a - failures_a
//   failures_b  trials_b - failures_b
// (the sum of the probabilities of every table with the same margins that is at most as
// likely as this one). Throws std::invalid_argument for counts out of range.
double fisher_exact_two_sided(int64_t failures_a, int64_t trials_a, int64_t failures_b, int64_t trials_b);

// One-sided p-value of Fisher's exact test that A fails more often than B: the probability,
// given the margins, of A having at least `failures_a` failures. Throws like the above.
double fisher_exact_greater(int64_t failures_a, int64_t trials_a, int64_t failures_b, int64_t trials_b);

}  // namespace flakelab::results
