// Internal: number formatting shared by the text and report renderers. Not installed.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace flakelab::results::detail {

enum class Round { kNearest, kUp };

// Two decimals, or three significant digits below 1% so that a bound like 0.0150% does not
// print as 0.00%.
inline std::string percent(double fraction, Round round) {
  double pct = fraction * 100.0;
  int decimals = 2;
  if (pct > 0.0 && pct < 1.0) {
    decimals = std::min(8, 2 - static_cast<int>(std::floor(std::log10(pct))));
  }
  if (round == Round::kUp) {
    const double scale = std::pow(10.0, decimals);
    // The small slack keeps an exact value such as 0.15 (stored as 0.15000000000000002) from
    // being pushed up a digit.
    pct = std::ceil(pct * scale - 1e-6) / scale;
  }
  return fmt::format("{:.{}f}%", pct, decimals);
}

}  // namespace flakelab::results::detail
