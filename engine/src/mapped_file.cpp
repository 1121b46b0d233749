#include "mapped_file.h"

#include <sys/mman.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "flakelab/engine/error.h"
#include "payload_crc.h"

namespace flakelab::engine {

MappedFile::MappedFile(int fd, size_t size, const std::string& path) : size_(size) {
  if (size == 0) return;
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw_errno("mmap " + path);
  data_ = static_cast<uint8_t*>(p);
}

MappedFile::~MappedFile() {
  if (!data_) return;
  // Tearing down the page tables of a large mapping that was read in full (256
  // MiB: 65536 entries, each page marked accessed) takes milliseconds on one
  // CPU; MADV_DONTNEED on pieces runs on several (it needs only the read lock),
  // leaving munmap nothing to do.
  int threads = checksum_threads(size_);
  if (threads > 1) {
    size_t piece = (size_ / static_cast<size_t>(threads) + 4095) / 4096 * 4096;
    std::vector<std::jthread> pool;
    try {
      for (int i = 1; i < threads; ++i)
        pool.emplace_back([this, i, piece] {
          size_t from = std::min(size_, piece * static_cast<size_t>(i));
          ::madvise(data_ + from, std::min(size_ - from, piece), MADV_DONTNEED);
        });
    } catch (...) {
      // No thread: munmap does the rest alone.
    }
    ::madvise(data_, std::min(size_, piece), MADV_DONTNEED);
  }  // joins
  ::munmap(data_, size_);
}

}  // namespace flakelab::engine
