// Framing of image files.
//
// Header (32 bytes, little endian):
//   0  u64 magic         "FLKPROC\0" or "FLKPAGE\0"
//   8  u32 version       1, 2 or 3 (image.h)
//  12  u32 header_size   where the payload starts: 32; 4096 in version 3 pages
//                        files, whose bytes 32..4095 are zero
//  16  u64 payload_len   bytes after the header
//  24  u32 payload_crc   CRC32C of the payload
//  28  u32 header_crc    CRC32C of bytes 0..27
#include "image_frame.h"

#include <cstring>

#include "crc32c.h"
#include "flakelab/base/hex.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"

namespace flakelab::engine::detail {
using base::hex;

std::array<uint8_t, kHeaderSize> frame_header(uint64_t magic, std::span<const uint8_t> payload,
                                                               uint32_t version) {
  return frame_header(magic, payload.size(), crc32c(payload.data(), payload.size()), version);
}

size_t header_size_for(uint64_t magic, uint32_t version) {
  return magic == kPagesMagic && version == kPageAlignedFormatVersion ? kPageAlignedHeaderSize : kHeaderSize;
}

std::array<uint8_t, kHeaderSize> frame_header(uint64_t magic, uint64_t payload_len, uint32_t payload_crc,
                                                               uint32_t version) {
  Header h{magic, version, static_cast<uint32_t>(header_size_for(magic, version)), payload_len, payload_crc, 0};
  h.header_crc = crc32c(&h, offsetof(Header, header_crc));
  std::array<uint8_t, kHeaderSize> out;
  std::memcpy(out.data(), &h, kHeaderSize);
  return out;
}

std::vector<uint8_t> frame(uint64_t magic, std::span<const uint8_t> payload, uint32_t version) {
  auto head = frame_header(magic, payload, version);
  size_t at = header_size_for(magic, version);
  std::vector<uint8_t> out(at + payload.size());  // the padding, if any, zero
  std::memcpy(out.data(), head.data(), kHeaderSize);
  if (!payload.empty()) std::memcpy(out.data() + at, payload.data(), payload.size());
  return out;
}

std::vector<uint8_t> padded_header(uint64_t magic, uint64_t payload_len, uint32_t crc, uint32_t version) {
  auto head = frame_header(magic, payload_len, crc, version);
  std::vector<uint8_t> out(header_size_for(magic, version), 0);
  std::memcpy(out.data(), head.data(), head.size());
  return out;
}

Header check_header(std::span<const uint8_t> head, uint64_t file_size, uint64_t magic, uint64_t max_payload,
                    const std::string& name) {
  if (head.size() < kHeaderSize)
    throw ImageError(name, "header", "truncated: file has " + std::to_string(file_size) +
                                         " bytes, the header alone needs " + std::to_string(kHeaderSize));
  Header h;
  std::memcpy(&h, head.data(), kHeaderSize);
  if (h.magic != magic)
    throw ImageError(name, "magic", "got " + hex(h.magic) + ", expected " + hex(magic) + " (not a flakelab " +
                                        (magic == kProcessMagic ? "process" : "pages") + " image)");
  if (crc32c(&h, offsetof(Header, header_crc)) != h.header_crc)
    throw ImageError(name, "header_crc", "header checksum mismatch (header is corrupt)");
  if (h.version != kImageFormatVersion && h.version != kTreeFormatVersion && h.version != kPageAlignedFormatVersion)
    throw ImageError(name, "version", "format version " + std::to_string(h.version) +
                                          " is not supported (this build reads versions " +
                                          std::to_string(kImageFormatVersion) + " to " +
                                          std::to_string(kPageAlignedFormatVersion) + ")");
  const size_t header_size = header_size_for(magic, h.version);
  if (h.header_size != header_size)
    throw ImageError(name, "header_size", "is " + std::to_string(h.header_size) + ", expected " +
                                              std::to_string(header_size) + " for format version " +
                                              std::to_string(h.version));
  if (file_size < header_size)
    throw ImageError(name, "header", "truncated: file has " + std::to_string(file_size) +
                                         " bytes, the header alone needs " + std::to_string(header_size));
  if (head.size() < header_size)
    throw ImageError(name, "header", "only " + std::to_string(head.size()) + " of its " + std::to_string(header_size) +
                                         " bytes could be read");
  for (size_t i = kHeaderSize; i < header_size; ++i)
    if (head[i] != 0) throw ImageError(name, "header_padding", "byte " + std::to_string(i) + " is not zero");
  if (h.payload_len > max_payload)
    throw ImageError(name, "payload_len", std::to_string(h.payload_len) + " bytes exceeds the limit of " +
                                              std::to_string(max_payload));
  uint64_t have = file_size - header_size;
  if (h.payload_len > have)
    throw ImageError(name, "payload_len", "truncated: header says " + std::to_string(h.payload_len) +
                                              " payload bytes, file has " + std::to_string(have));
  if (h.payload_len < have)
    throw ImageError(name, "payload_len", std::to_string(have - h.payload_len) +
                                              " unexpected trailing bytes after the payload");
  return h;
}

void check_payload(const Header& h, std::span<const uint8_t> payload, const std::string& name) {
  if (crc32c(payload.data(), payload.size()) != h.payload_crc)
    throw ImageError(name, "payload_crc", "payload checksum mismatch (file is corrupt)");
}

std::span<const uint8_t> unframe(std::span<const uint8_t> file, uint64_t magic, uint64_t max_payload,
                                 const std::string& name, uint32_t* version) {
  Header h = check_header(file, file.size(), magic, max_payload, name);
  auto payload = file.subspan(h.header_size);
  check_payload(h, payload, name);
  if (version) *version = h.version;
  return payload;
}

}  // namespace flakelab::engine::detail
