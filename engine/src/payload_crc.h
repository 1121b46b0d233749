// Checksums of large page payloads, computed beside the I/O or on several threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "image_frame.h"

namespace flakelab::engine {

class WholeFile;

// Large page payloads: the checksum runs on a second thread beside the file I/O
// (both are memory-bandwidth bound, on different CPUs), in chunks.
inline constexpr size_t kOverlapFrom = size_t{16} << 20;
inline constexpr size_t kIoChunk = size_t{8} << 20;

// CRCs of the pieces of a payload, added in any order from any thread; whole()
// is the payload's CRC if the pieces tile [0, size) exactly.
class PieceCrcs {
 public:
  void add(uint64_t offset, uint64_t len, uint32_t crc);
  // The CRC of the whole, or why there is none (a gap, an overlap, a piece past the end).
  uint32_t whole(uint64_t size, std::string* why);

 private:
  struct Piece {
    uint64_t offset;
    uint64_t len;
    uint32_t crc;
  };
  std::mutex mutex_;
  std::vector<Piece> pieces_;
};

// Threads for checksumming `size` bytes: one below kOverlapFrom, else up to four
// (never more than the CPUs we may run on).
int checksum_threads(size_t size);

// Checks a mapped payload against `h` on checksum_threads() threads, each
// checksumming one piece (mapped_crc32c()); the pieces' CRCs are combined.
void check_mapped_payload(const detail::Header& h, const uint8_t* payload, size_t size, const std::string& name);

// Reads `size` payload bytes of `f` into `out` and checks them against the header's
// checksum, computed chunk by chunk on a second thread as the chunks arrive.
void read_payload_checked(WholeFile& f, const detail::Header& h, uint8_t* out, size_t size, const std::string& name);

}  // namespace flakelab::engine
