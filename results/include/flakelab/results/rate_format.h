// How every failure rate, interval and bound is printed: the reports, the run summary, the
// cell table, progress lines, compare, gate and bisect-verdict all go through here. A
// printed claim is never stronger than the data: an upper bound is rounded up and a lower
// bound down (0 failures in 1234 trials, bound 0.24247%, prints "< 0.243%"); a rate itself
// is rounded to nearest.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "flakelab/results/stats.h"

namespace flakelab::results {

enum class Round { kNearest, kUp, kDown };

// `fraction` as a percentage: two decimals, or three significant digits below 1% so that
// a bound like 0.0150% does not print as 0.00% ("6.35%", "0.243%", "0.00300%").
std::string format_percent(double fraction, Round round);

// "6.35%": `failing` of `trials` (> 0) as a rate, rounded to nearest.
std::string format_rate(int64_t failing, int64_t trials);

// "< 0.243%": an upper bound on the rate, rounded up.
std::string format_upper_bound(double bound);

// "5.35% .. 7.51%": an interval, its low end rounded down and its high end up.
std::string format_interval(const Interval& interval, std::string_view separator = " .. ");

}  // namespace flakelab::results
