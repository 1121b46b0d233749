#include "flakelab/base/hex.h"

#include <gtest/gtest.h>

namespace flakelab::base {
namespace {

TEST(Hex, LowerCaseWithPrefix) {
  EXPECT_EQ(hex(0), "0x0");
  EXPECT_EQ(hex(0x7ffdABCD), "0x7ffdabcd");
  EXPECT_EQ(hex(~0ULL), "0xffffffffffffffff");
}

}  // namespace
}  // namespace flakelab::base
