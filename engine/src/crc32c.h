// CRC32C (Castagnoli), the checksum of image files: hardware crc32 instruction
// when the CPU has SSE4.2, a table otherwise. Same result either way.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flakelab::engine {

uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

}  // namespace flakelab::engine
