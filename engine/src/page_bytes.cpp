#include "flakelab/engine/page_bytes.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace flakelab::engine::detail {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
// Below this, malloc does fine. Above it glibc would mmap and munmap the block
// every time, and each new block costs a page fault per 4 KiB page.
constexpr size_t kLargeBlock = size_t{256} << 10;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// One recycled large block: {address, mapped length}.
struct Cache {
  std::mutex mutex;
  void* block = nullptr;
  size_t length = 0;
  std::unordered_map<void*, size_t> lent;   // recycled blocks in use: their real length
};
Cache& cache() {
  static Cache c;
  return c;
}

void* map_large(size_t length) {
  // Over-allocate by one huge page to align the start; trim both ends.
  size_t span = length + kHugePage;
  void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  auto start = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = round_up(start, kHugePage);
  if (aligned > start) ::munmap(raw, aligned - start);
  size_t tail = (start + span) - (aligned + length);
  if (tail) ::munmap(reinterpret_cast<void*>(aligned + length), tail);
  ::madvise(reinterpret_cast<void*>(aligned), length, MADV_HUGEPAGE);   // a hint; fine if refused
  // Image buffers are never a child's business: a victim forked by a process that
  // holds (or caches) one would otherwise carry hundreds of MiB into its own dump.
  ::madvise(reinterpret_cast<void*>(aligned), length, MADV_DONTFORK);
  return reinterpret_cast<void*>(aligned);
}

}  // namespace

void* allocate_page_bytes(size_t size) {
  if (size < kLargeBlock) {
    void* p = std::malloc(size ? size : 1);
    if (!p) throw std::bad_alloc();
    return p;
  }
  size_t length = round_up(size, kHugePage);
  {
    Cache& c = cache();
    std::lock_guard lock(c.mutex);
    // The same process dumped again needs about the same size.
    if (c.block && c.length >= length && c.length <= 2 * length) {
      void* p = c.block;
      c.lent[p] = c.length;
      c.block = nullptr;
      c.length = 0;
      return p;
    }
  }
  return map_large(length);
}

void free_page_bytes(void* p, size_t size) noexcept {
  if (size < kLargeBlock) {
    std::free(p);
    return;
  }
  size_t length = round_up(size, kHugePage);
  // A recycled block may be longer than this request: find its real length.
  {
    Cache& c = cache();
    std::lock_guard lock(c.mutex);
    auto it = c.lent.find(p);
    if (it != c.lent.end()) {
      length = it->second;
      c.lent.erase(it);
    }
  }
  void* evicted = nullptr;
  size_t evicted_length = 0;
  {
    Cache& c = cache();
    std::lock_guard lock(c.mutex);
    evicted = c.block;
    evicted_length = c.length;
    c.block = p;
    c.length = length;
  }
  if (evicted) ::munmap(evicted, evicted_length);
}

void release_cached_page_bytes() noexcept {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  if (c.block) ::munmap(c.block, c.length);
  c.block = nullptr;
  c.length = 0;
}

}  // namespace flakelab::engine::detail

namespace flakelab::engine {

bool operator==(const PageBytes& a, const PageBytes& b) noexcept {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace flakelab::engine
