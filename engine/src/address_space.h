// Address-range helpers for placing things where neither the restorer nor the
// image has a mapping.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace flakelab::engine {

struct Range {
  uint64_t start;
  uint64_t end;
};

// Highest `size`-byte range below `top` that overlaps none of `busy` (which need
// not be sorted), keeping a one-page gap on each side.
std::optional<uint64_t> find_free_range(std::vector<Range> busy, uint64_t size, uint64_t top);

}  // namespace flakelab::engine
