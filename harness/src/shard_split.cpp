#include "flakelab/harness/shard_split.h"

#include <fmt/core.h>

#include "flakelab/harness/error.h"
#include "flakelab/results/shard_sets.h"

namespace flakelab::harness {

TrialRange shard_range(int64_t trials, int ordinal, int index, int count) {
  if (count < 1 || index < 1 || index > count || trials < 0 || ordinal < 0) {
    throw std::invalid_argument(fmt::format("shard_range: bad shard {}/{} (trials {}, ordinal {})", index, count,
                                            trials, ordinal));
  }
  const int64_t piece = (static_cast<int64_t>(index) - 1 + ordinal) % count;
  // floor(k * T / N) without overflow for any int64 trial count a campaign can hold.
  auto bound = [&](int64_t k) {
    return static_cast<int64_t>((static_cast<__int128>(k) * trials) / count);
  };
  const int64_t first = bound(piece);
  return TrialRange{first, bound(piece + 1) - first};
}

void parse_shard_option(const std::string& text, const char* option, int& index, int& count) {
  if (!results::parse_shard(text, index, count)) {
    throw UsageError(fmt::format("{} '{}': expected I/N with 1 <= I <= N, e.g. 2/3", option, text));
  }
}

}  // namespace flakelab::harness
