// libFuzzer target for the image decoder. Input layout: byte 0 selects the mode,
// then a 4-byte little-endian length splits the rest into (process, pages) bytes.
// Mode bit 0 set: the process bytes are a raw protobuf payload that we frame with a
// valid checksum, so the fuzzer reaches the schema parser and the validator; bit
// 1 does the same for the pages bytes; bit 2 frames them as format version 3.
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"
#include "image_frame.h"

using namespace flakelab::engine;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  uint8_t mode = data[0];
  uint32_t split = 0;
  std::memcpy(&split, data + 1, 4);
  std::span<const uint8_t> rest(data + 5, size - 5);
  split = static_cast<uint32_t>(split % (rest.size() + 1));
  std::vector<uint8_t> process(rest.begin(), rest.begin() + split);
  std::vector<uint8_t> pages(rest.begin() + split, rest.end());
  // Bit 2: frame both as version 3 (a tree, pages behind a 4 KiB header).
  uint32_t version = (mode & 4) ? kPageAlignedFormatVersion : kImageFormatVersion;
  if (mode & 1) process = detail::frame(detail::kProcessMagic, process, version);
  if (mode & 2) pages = detail::frame(detail::kPagesMagic, pages, version);
  try {
    decode_image(process, pages);
  } catch (const ImageError&) {
  }
  return 0;
}
