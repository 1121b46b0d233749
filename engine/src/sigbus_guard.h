// Reading a mapped file that another process may truncate under us.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flakelab::engine {

// crc32c() of bytes of a mapped file, read without risking the program: a SIGBUS
// (the file truncated under us) returns false instead of killing us.
bool mapped_crc32c(const uint8_t* data, size_t size, uint32_t* crc);

}  // namespace flakelab::engine
