// Storage for an image's page data, which can be hundreds of MiB.
//
// Either owned: a buffer from an allocator that (1) leaves bytes uninitialized on
// resize (dump and the image reader overwrite every byte; zero-filling 256 MiB
// first costs as much as copying it), (2) takes large blocks from mmap with
// transparent huge pages, so touching them costs one fault per 2 MiB instead of
// per 4 KiB, and (3) keeps the most recently freed large block for the next
// image: a stress run dumps a process of the same size thousands of times, and a
// recycled block needs no faults at all.
//
// Or a read-only view of a mapped image file (pages.img of format version 3),
// kept alive by whatever owns the mapping: restore copies straight from the page
// cache, and a dump that streamed its pages into the file refers to them there.
// Copies of a view share it; anything that writes through a view (the non-const
// accessors, growing it) first copies it into owned storage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
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

class PageBytes {
 public:
  using value_type = uint8_t;
  using iterator = uint8_t*;
  using const_iterator = const uint8_t*;
  using size_type = size_t;

  PageBytes() = default;

  // A read-only view of `size` bytes at `data`, valid while `owner` lives.
  static PageBytes view(std::shared_ptr<const void> owner, const uint8_t* data, size_t size) {
    PageBytes b;
    b.owner_ = std::move(owner);
    b.view_ = data;
    b.view_size_ = size;
    return b;
  }
  bool is_view() const noexcept { return owner_ != nullptr; }

  // Bytes [offset, offset + n): a view sharing this one's owner, or a copy.
  PageBytes slice(size_t offset, size_t n) const {
    if (is_view()) return view(owner_, view_ + offset, n);
    PageBytes b;
    b.own_.assign(own_.begin() + static_cast<std::ptrdiff_t>(offset),
                  own_.begin() + static_cast<std::ptrdiff_t>(offset + n));
    return b;
  }

  size_t size() const noexcept { return is_view() ? view_size_ : own_.size(); }
  bool empty() const noexcept { return size() == 0; }
  const uint8_t* data() const noexcept { return is_view() ? view_ : own_.data(); }
  uint8_t* data() {
    own();
    return own_.data();
  }
  const uint8_t* begin() const noexcept { return data(); }
  const uint8_t* end() const noexcept { return data() + size(); }
  uint8_t* begin() { return data(); }
  uint8_t* end() { return data() + size(); }
  const uint8_t& operator[](size_t i) const noexcept { return data()[i]; }
  uint8_t& operator[](size_t i) { return data()[i]; }

  // Shrinking a view keeps it a view; anything else works on owned storage.
  void resize(size_t n) {
    if (is_view() && n <= view_size_) {
      view_size_ = n;
      return;
    }
    own();
    own_.resize(n);
  }
  void clear() noexcept {
    owner_.reset();
    view_ = nullptr;
    view_size_ = 0;
    own_.clear();
  }
  template <class It>
  void assign(It first, It last) {
    std::vector<uint8_t, PageAllocator<uint8_t>> bytes(first, last);
    clear();
    own_.swap(bytes);
  }

  friend bool operator==(const PageBytes& a, const PageBytes& b) noexcept;

 private:
  // Turns a view into owned storage (a copy).
  void own() {
    if (!is_view()) return;
    std::vector<uint8_t, PageAllocator<uint8_t>> bytes(view_, view_ + view_size_);
    clear();
    own_.swap(bytes);
  }

  std::vector<uint8_t, PageAllocator<uint8_t>> own_;
  std::shared_ptr<const void> owner_;   // set: a view
  const uint8_t* view_ = nullptr;
  size_t view_size_ = 0;
};

bool operator==(const PageBytes& a, const PageBytes& b) noexcept;

}  // namespace flakelab::engine
