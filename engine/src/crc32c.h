// CRC32C (Castagnoli), the checksum of image files: the hardware crc32 instruction
// (three interleaved streams for large buffers) when the CPU has SSE4.2, a table
// otherwise. Same result either way.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flakelab::engine {

uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

// The CRC of A followed by B from crc32c(A), crc32c(B) and B's length: pieces
// checksummed on different threads, or out of order, make one CRC.
uint32_t crc32c_combine(uint32_t crc_a, uint32_t crc_b, size_t len_b);

// The table version alone: the reference the fast one is tested against.
uint32_t crc32c_portable(const void* data, size_t size, uint32_t crc = 0);

}  // namespace flakelab::engine
