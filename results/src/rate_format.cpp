#include "flakelab/results/rate_format.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace flakelab::results {

std::string format_percent(double fraction, Round round) {
  double pct = fraction * 100.0;
  int decimals = 2;
  if (pct > 0.0 && pct < 1.0) {
    decimals = std::min(8, 2 - static_cast<int>(std::floor(std::log10(pct))));
  }
  const double scale = std::pow(10.0, decimals);
  // A relative slack of a few ulps keeps a value that is exact in decimal (0.15, stored
  // as 0.15000000000000002) from being pushed a digit away; it is far below any digit shown.
  const double digits = pct * scale, slack = digits * 1e-12;
  if (round == Round::kUp) pct = std::ceil(digits - slack) / scale;
  if (round == Round::kDown) pct = std::floor(digits + slack) / scale;
  return fmt::format("{:.{}f}%", pct, decimals);
}

std::string format_rate(int64_t failing, int64_t trials) {
  return format_percent(static_cast<double>(failing) / static_cast<double>(trials), Round::kNearest);
}

std::string format_upper_bound(double bound) { return "< " + format_percent(bound, Round::kUp); }

std::string format_interval(const Interval& interval, std::string_view separator) {
  return format_percent(interval.low, Round::kDown) + std::string(separator) +
         format_percent(interval.high, Round::kUp);
}

}  // namespace flakelab::results
