// The framing of image files (header + payload), shared by the codec and by tests
// and fuzzers that need to build files with valid checksums around chosen bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace flakelab::engine::detail {

inline constexpr uint64_t kProcessMagic = 0x00434f52504b4c46ull;  // "FLKPROC\0"
inline constexpr uint64_t kPagesMagic = 0x00454741504b4c46ull;    // "FLKPAGE\0"
inline constexpr size_t kHeaderSize = 32;
// Version 3 pages files pad their header with zeros to one page, so that the
// payload can be mapped and copied from in place.
inline constexpr size_t kPageAlignedHeaderSize = 4096;

// Where the payload of a `magic` file of format `version` starts.
size_t header_size_for(uint64_t magic, uint32_t version);

// The header of a framed file with this payload.
std::array<uint8_t, kHeaderSize> frame_header(uint64_t magic, std::span<const uint8_t> payload, uint32_t version);
// The same for a payload of `payload_len` bytes whose CRC32C is known.
std::array<uint8_t, kHeaderSize> frame_header(uint64_t magic, uint64_t payload_len, uint32_t payload_crc,
                                              uint32_t version);

// A framed file (header, padding, payload); tests pass older versions.
std::vector<uint8_t> frame(uint64_t magic, std::span<const uint8_t> payload, uint32_t version);

}  // namespace flakelab::engine::detail
