// The fast CRC32C (hardware, three streams combined) against the table version and
// the standard check value, for every split of the buffer into thirds.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "crc32c.h"

namespace flakelab::engine {
namespace {

TEST(Crc32c, StandardCheckValue) {
  const char* text = "123456789";
  EXPECT_EQ(crc32c(text, 9), 0xe3069283u);
  EXPECT_EQ(crc32c_portable(text, 9), 0xe3069283u);
}

TEST(Crc32c, FastAndPortableAgreeOnManySizesAndSeeds) {
  std::mt19937_64 rng(7);
  std::vector<uint8_t> buf(3 << 20);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t size : {size_t{0}, size_t{1}, size_t{7}, size_t{4095}, size_t{4096}, size_t{4097}, size_t{12289},
                      size_t{65536 + 5}, size_t{1} << 20, (size_t{3} << 20) - 3}) {
    for (uint32_t seed : {0u, 0xdeadbeefu}) {
      EXPECT_EQ(crc32c(buf.data(), size, seed), crc32c_portable(buf.data(), size, seed)) << size << " " << seed;
    }
  }
}

TEST(Crc32c, ContinuingEqualsOneShot) {
  std::vector<uint8_t> buf(100000);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(i * 31 + 7);
  uint32_t first = crc32c(buf.data(), 40000);
  EXPECT_EQ(crc32c(buf.data() + 40000, buf.size() - 40000, first), crc32c(buf.data(), buf.size()));
}

TEST(Crc32c, CombiningPiecesEqualsOneShot) {
  std::vector<uint8_t> buf(100000);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(i * 13 + 5);
  for (size_t cut : {size_t{0}, size_t{1}, size_t{4096}, size_t{65537}, buf.size()}) {
    uint32_t a = crc32c(buf.data(), cut);
    uint32_t b = crc32c(buf.data() + cut, buf.size() - cut);
    EXPECT_EQ(crc32c_combine(a, b, buf.size() - cut), crc32c(buf.data(), buf.size())) << cut;
  }
}

}  // namespace
}  // namespace flakelab::engine
