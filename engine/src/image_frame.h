// The framing of image files (header + payload), shared by the codec and by tests
// and fuzzers that need to build files with valid checksums around chosen bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
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

// The header of a pages file, padded to where its payload starts.
std::vector<uint8_t> padded_header(uint64_t magic, uint64_t payload_len, uint32_t crc, uint32_t version);

// The header as it is on disk (little endian, see image_frame.cpp).
struct Header {
  uint64_t magic;
  uint32_t version;
  uint32_t header_size;
  uint64_t payload_len;
  uint32_t payload_crc;
  uint32_t header_crc;
};
static_assert(sizeof(Header) == kHeaderSize);

// Checks every field of the header at the start of `head` for a file of `file_size`
// bytes and returns it; ImageError names `name` and the field.
Header check_header(std::span<const uint8_t> head, uint64_t file_size, uint64_t magic, uint64_t max_payload,
                    const std::string& name);
// Checks the payload against the header's CRC.
void check_payload(const Header& h, std::span<const uint8_t> payload, const std::string& name);
// The payload of a framed file, after checking every header field and the CRC.
std::span<const uint8_t> unframe(std::span<const uint8_t> file, uint64_t magic, uint64_t max_payload,
                                 const std::string& name, uint32_t* version = nullptr);

}  // namespace flakelab::engine::detail
