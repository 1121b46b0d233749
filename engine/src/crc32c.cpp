#include "crc32c.h"

#include <sys/platform/x86.h>

#include <array>
#include <cstring>

namespace flakelab::engine {
namespace {

constexpr uint32_t kPoly = 0x82f63b78u;  // reflected Castagnoli polynomial

constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kTable = make_table();

uint32_t crc_soft(const uint8_t* p, size_t n, uint32_t c) {
  for (size_t i = 0; i < n; ++i) c = kTable[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c;
}

// a * b modulo the polynomial, in the reflected bit order CRC registers use.
constexpr uint32_t multmodp(uint32_t a, uint32_t b) {
  uint32_t m = 1u << 31, p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = (b & 1) ? (b >> 1) ^ kPoly : b >> 1;
  }
  return p;
}

// kX2n[k] = x^(2^k) modulo the polynomial.
constexpr std::array<uint32_t, 32> make_x2n() {
  std::array<uint32_t, 32> t{};
  uint32_t p = 1u << 30;  // x^1
  t[0] = p;
  for (int k = 1; k < 32; ++k) t[k] = p = multmodp(p, p);
  return t;
}
constexpr auto kX2n = make_x2n();

// CRC of A||B from crc(A), crc(B) and |B| (as zlib's crc32_combine).
uint32_t combine(uint32_t crc_a, uint32_t crc_b, size_t len_b) {
  uint32_t op = 1u << 31;  // x^0
  unsigned k = 3;          // x^(8 * len_b) = x^(len_b * 2^3)
  for (size_t n = len_b; n; n >>= 1, ++k)
    if (n & 1) op = multmodp(kX2n[k & 31], op);
  return multmodp(op, crc_a) ^ crc_b;
}

__attribute__((target("sse4.2"))) uint32_t crc_hw(const uint8_t* p, size_t n, uint32_t c) {
  uint64_t c64 = c;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c64 = __builtin_ia32_crc32di(c64, w);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c64);
  while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}

// The crc32 instruction has a latency of 3 cycles and a throughput of 1: three
// independent streams over three thirds of the buffer run about 3x faster than
// one; their CRCs are then combined. Takes and returns final (inverted) CRCs.
__attribute__((target("sse4.2"))) uint32_t crc_hw_3way(const uint8_t* p, size_t n, uint32_t crc) {
  size_t third = n / 3 / 8 * 8;
  const uint8_t* a = p;
  const uint8_t* b = p + third;
  const uint8_t* c = p + 2 * third;
  uint64_t ca = ~crc, cb = 0xffffffffu, cc = 0xffffffffu;
  for (size_t i = 0; i < third; i += 8) {
    uint64_t wa, wb, wc;
    std::memcpy(&wa, a + i, 8);
    std::memcpy(&wb, b + i, 8);
    std::memcpy(&wc, c + i, 8);
    ca = __builtin_ia32_crc32di(ca, wa);
    cb = __builtin_ia32_crc32di(cb, wb);
    cc = __builtin_ia32_crc32di(cc, wc);
  }
  size_t rest = n - 2 * third;   // the last stream also takes the remainder
  uint32_t crc_c = ~crc_hw(c + third, rest - third, static_cast<uint32_t>(cc));
  uint32_t crc_ab = combine(~static_cast<uint32_t>(ca), ~static_cast<uint32_t>(cb), third);
  return combine(crc_ab, crc_c, rest);
}

}  // namespace

uint32_t crc32c(const void* data, size_t size, uint32_t crc) {
  // glibc's record of what the loader detected: __builtin_cpu_supports would pull
  // in libgcc's CPUID probe, which runs at every program start (about 0.1 ms in
  // this KVM guest, where each CPUID traps).
  static const bool hw = CPU_FEATURE_ACTIVE(SSE4_2);
  const auto* p = static_cast<const uint8_t*>(data);
  if (hw && size >= 4096) return crc_hw_3way(p, size, crc);
  uint32_t c = ~crc;
  c = hw ? crc_hw(p, size, c) : crc_soft(p, size, c);
  return ~c;
}

uint32_t crc32c_combine(uint32_t crc_a, uint32_t crc_b, size_t len_b) { return combine(crc_a, crc_b, len_b); }

uint32_t crc32c_portable(const void* data, size_t size, uint32_t crc) {
  return ~crc_soft(static_cast<const uint8_t*>(data), size, ~crc);
}

}  // namespace flakelab::engine
