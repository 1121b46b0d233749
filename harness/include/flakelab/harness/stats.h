// Statistics for "did my fix work": Fisher's exact test on two failure counts. (The
// Wilson interval and the zero-failure bound live in results/store.h.)
#pragma once

#include <cstdint>

namespace flakelab::harness {

// Two-sided p-value of Fisher's exact test for the 2x2 table
//   failures_a  trials_a - failures_a
//   failures_b  trials_b - failures_b
// (the sum of the probabilities of every table with the same margins that is at most as
// likely as this one). Throws std::invalid_argument for counts out of range.
double fisher_exact_two_sided(int64_t failures_a, int64_t trials_a, int64_t failures_b, int64_t trials_b);

// One-sided p-value of Fisher's exact test that A fails more often than B: the probability,
// given the margins, of A having at least `failures_a` failures. Throws like the above.
double fisher_exact_greater(int64_t failures_a, int64_t trials_a, int64_t failures_b, int64_t trials_b);

}  // namespace flakelab::harness
