// Storage for an image's page data, which can be hundreds of MiB.
//
// A std::vector with an allocator that (1) leaves bytes uninitialized on resize
// (dump and the image reader overwrite every byte; zero-filling 256 MiB first
// costs as much as copying it), (2) takes large blocks from mmap with transparent
// huge pages, so touching them costs one fault per 2 MiB instead of per 4 KiB,
// and (3) keeps the most recently freed large block for the next image: a stress
// run dumps a process of the same size thousands of times, and a recycled block
// needs no faults at all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace flakelab::engine {

namespace detail {
void* allocate_page_bytes(size_t size);
void free_page_bytes(void* p, size_t size) noexcept;
// Drops the recycled block (tests, or a caller done with large images).
void release_cached_page_bytes() noexcept;
}  // namespace detail

template <class T>
struct PageAllocator {
  using value_type = T;
  PageAllocator() = default;
  template <class U>
  PageAllocator(const PageAllocator<U>&) noexcept {}

  T* allocate(size_t n) { return static_cast<T*>(detail::allocate_page_bytes(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { detail::free_page_bytes(p, n * sizeof(T)); }

  // Value-initialization would zero-fill on resize(); default-initialize instead.
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(static_cast<Args&&>(args)...);
  }

  template <class U>
  bool operator==(const PageAllocator<U>&) const noexcept { return true; }
};

using PageBytes = std::vector<uint8_t, PageAllocator<uint8_t>>;

}  // namespace flakelab::engine
