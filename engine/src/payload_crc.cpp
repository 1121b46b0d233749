#include "payload_crc.h"

#include <sched.h>

#include <algorithm>
#include <condition_variable>
#include <thread>

#include "crc32c.h"
#include "flakelab/engine/error.h"
#include "sigbus_guard.h"
#include "whole_file.h"

namespace flakelab::engine {

void PieceCrcs::add(uint64_t offset, uint64_t len, uint32_t crc) {
  std::lock_guard lock(mutex_);
  pieces_.push_back({offset, len, crc});
}

uint32_t PieceCrcs::whole(uint64_t size, std::string* why) {
  std::lock_guard lock(mutex_);
  std::sort(pieces_.begin(), pieces_.end(), [](const Piece& a, const Piece& b) { return a.offset < b.offset; });
  uint64_t at = 0;
  uint32_t crc = 0;
  for (const auto& p : pieces_) {
    if (p.offset != at) {
      *why = "a piece at " + std::to_string(p.offset) + " where " + std::to_string(at) + " was expected";
      return 0;
    }
    crc = at == 0 ? p.crc : crc32c_combine(crc, p.crc, p.len);
    at += p.len;
  }
  if (at != size) *why = "the pieces cover " + std::to_string(at) + " of " + std::to_string(size) + " bytes";
  return crc;
}

int checksum_threads(size_t size) {
  if (size < kOverlapFrom) return 1;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::clamp(CPU_COUNT(&set), 1, 4);
}

void check_mapped_payload(const detail::Header& h, const uint8_t* payload, size_t size, const std::string& name) {
  const int threads = checksum_threads(size);
  const size_t piece = (size / static_cast<size_t>(threads) + 4095) / 4096 * 4096;
  std::vector<uint32_t> crcs(static_cast<size_t>(threads), 0);
  std::vector<uint8_t> ok(static_cast<size_t>(threads), 0);
  auto one = [&](int i) {
    size_t from = std::min(size, piece * static_cast<size_t>(i));
    size_t len = std::min(size - from, piece);
    ok[static_cast<size_t>(i)] = mapped_crc32c(payload + from, len, &crcs[static_cast<size_t>(i)]);
  };
  {
    std::vector<std::jthread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back(one, i);
    one(0);
  }  // joins
  uint32_t crc = 0;
  for (int i = 0; i < threads; ++i) {
    if (!ok[static_cast<size_t>(i)]) throw ImageError(name, "payload_len", "file shrank while it was read");
    size_t from = std::min(size, piece * static_cast<size_t>(i));
    crc = i == 0 ? crcs[0] : crc32c_combine(crc, crcs[static_cast<size_t>(i)], std::min(size - from, piece));
  }
  if (crc != h.payload_crc) throw ImageError(name, "payload_crc", "payload checksum mismatch (file is corrupt)");
}

void read_payload_checked(WholeFile& f, const detail::Header& h, uint8_t* out, size_t size, const std::string& name) {
  const uint64_t base = h.header_size;
  if (size < kOverlapFrom) {
    if (f.read_at(out, size, base) != size) throw ImageError(name, "payload_len", "file shrank while it was read");
    detail::check_payload(h, {out, size}, name);
    return;
  }
  std::mutex m;
  std::condition_variable cv;
  size_t arrived = 0;  // bytes read so far (guarded by m)
  bool failed = false;
  uint32_t crc = 0;
  {
    std::jthread beside([&] {
      size_t done = 0;
      while (done < size) {
        size_t ready;
        {
          std::unique_lock lock(m);
          cv.wait(lock, [&] { return arrived > done || failed; });
          if (failed) return;
          ready = arrived;
        }
        crc = crc32c(out + done, ready - done, crc);
        done = ready;
      }
    });
    try {
      for (size_t at = 0; at < size;) {
        size_t want = std::min(kIoChunk, size - at);
        if (f.read_at(out + at, want, base + at) != want)
          throw ImageError(name, "payload_len", "file shrank while it was read");
        at += want;
        std::lock_guard lock(m);
        arrived = at;
        cv.notify_one();
      }
    } catch (...) {
      {
        std::lock_guard lock(m);
        failed = true;
      }
      cv.notify_one();
      throw;
    }
  }  // joins: crc covers the whole payload
  if (crc != h.payload_crc) throw ImageError(name, "payload_crc", "payload checksum mismatch (file is corrupt)");
}

}  // namespace flakelab::engine
