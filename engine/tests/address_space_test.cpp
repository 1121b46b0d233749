#include <gtest/gtest.h>

#include "address_space.h"

using flakelab::engine::find_free_range;
using flakelab::engine::Range;

namespace {
constexpr uint64_t kTop = 0x7ffffffff000ull;
constexpr uint64_t kSize = 0x10000;

bool overlaps(uint64_t a, uint64_t size, const std::vector<Range>& busy) {
  for (const Range& r : busy)
    if (a < r.end && r.start < a + size) return true;
  return false;
}
}  // namespace

TEST(FreeRange, TakesTheHighestGapAndSkipsNestedRanges) {
  // A small range listed inside a big one must not open a fake gap.
  std::vector<Range> busy = {{0x7f0000000000, 0x7ffffffff000}, {0x7f0000100000, 0x7f0000200000},
                             {0x500000000000, 0x600000000000}};
  auto a = find_free_range(busy, kSize, kTop);
  ASSERT_TRUE(a);
  EXPECT_FALSE(overlaps(*a, kSize, busy));
  EXPECT_EQ(*a + kSize + 4096, 0x7f0000000000ull);
}

TEST(FreeRange, KeepsGuardPagesAndGivesUpWhenFull) {
  std::vector<Range> busy = {{0x100000000, kTop}};
  EXPECT_FALSE(find_free_range(busy, kSize, kTop));
  busy = {{0x200000000, kTop}};
  auto a = find_free_range(busy, kSize, kTop);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, 0x200000000ull - 4096 - kSize);
}
