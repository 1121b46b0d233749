#include "address_space.h"

#include <algorithm>

namespace flakelab::engine {

std::optional<uint64_t> find_free_range(std::vector<Range> busy, uint64_t size, uint64_t top) {
  constexpr uint64_t kPage = 4096;
  constexpr uint64_t kLowest = 1ull << 32;  // stay clear of low fixed mappings
  // Merge overlapping/adjacent ranges (the inputs are unions of several lists).
  std::sort(busy.begin(), busy.end(), [](const Range& a, const Range& b) { return a.start < b.start; });
  std::vector<Range> merged;
  for (const Range& r : busy) {
    if (!merged.empty() && r.start <= merged.back().end)
      merged.back().end = std::max(merged.back().end, r.end);
    else
      merged.push_back(r);
  }
  // Gaps from the top down, keeping a guard page on each side.
  uint64_t ceiling = top;
  for (auto it = merged.rbegin(); it != merged.rend(); ++it) {
    if (it->start >= ceiling) continue;
    uint64_t floor = std::max(it->end, kLowest);
    if (it->end < ceiling && ceiling - floor >= size + 2 * kPage && ceiling > floor) return ceiling - kPage - size;
    ceiling = std::min(ceiling, it->start);
    if (ceiling <= kLowest) return std::nullopt;
  }
  if (ceiling > kLowest && ceiling - kLowest >= size + 2 * kPage) return ceiling - kPage - size;
  return std::nullopt;
}

}  // namespace flakelab::engine
