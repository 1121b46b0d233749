// An address in another process (a tracee), as a type of its own.
//
// A tracee address is just a number to the kernel, but a number that means
// nothing in the injector: dereferencing it here, or passing a local buffer where
// the tracee's address is expected, compiles silently when both are integers.
// RemoteAddr is built only explicitly from an integer, never converts to or from
// a local pointer or an integer by itself, and leaves as an integer only through
// as_int(), at the register or syscall-ABI boundary. remote_ptr<T> adds the
// pointee type, for arithmetic by element. (The idea is rr's remote_ptr.)
#pragma once

#include <fmt/format.h>

#include <compare>
#include <cstddef>
#include <cstdint>
#include <ostream>

namespace flakelab::compel {

class RemoteAddr {
 public:
  constexpr RemoteAddr() = default;  // the null address
  // Only from an integer, and only explicitly: a local pointer has no conversion
  // to uint64_t, so it is never taken for a tracee address.
  constexpr explicit RemoteAddr(uint64_t value) : value_(value) {}

  // For registers, syscall arguments and kernel structs that carry addresses.
  constexpr uint64_t as_int() const { return value_; }
  constexpr bool is_null() const { return value_ == 0; }

  // Arithmetic is by bytes.
  constexpr RemoteAddr operator+(uint64_t bytes) const { return RemoteAddr(value_ + bytes); }
  constexpr RemoteAddr operator-(uint64_t bytes) const { return RemoteAddr(value_ - bytes); }
  constexpr RemoteAddr& operator+=(uint64_t bytes) { value_ += bytes; return *this; }
  constexpr RemoteAddr& operator-=(uint64_t bytes) { value_ -= bytes; return *this; }
  // Distance in bytes from `from` (may be negative, as with pointers).
  constexpr std::ptrdiff_t operator-(RemoteAddr from) const { return static_cast<std::ptrdiff_t>(value_ - from.value_); }

  constexpr bool is_aligned(uint64_t alignment) const { return value_ % alignment == 0; }
  constexpr RemoteAddr align_down(uint64_t alignment) const { return RemoteAddr(value_ / alignment * alignment); }
  constexpr RemoteAddr align_up(uint64_t alignment) const {
    return RemoteAddr((value_ + alignment - 1) / alignment * alignment);
  }

  constexpr auto operator<=>(const RemoteAddr&) const = default;

 private:
  uint64_t value_ = 0;
};

// A RemoteAddr that knows what it points at: +/- move by elements of T.
template <typename T>
class remote_ptr {
 public:
  constexpr remote_ptr() = default;
  constexpr explicit remote_ptr(RemoteAddr addr) : addr_(addr) {}
  constexpr explicit remote_ptr(uint64_t value) : addr_(value) {}

  // Dropping the type is safe (as T* -> void*); the other way is explicit.
  constexpr operator RemoteAddr() const { return addr_; }
  constexpr RemoteAddr addr() const { return addr_; }
  constexpr uint64_t as_int() const { return addr_.as_int(); }
  constexpr bool is_null() const { return addr_.is_null(); }
  static constexpr size_t element_size() { return sizeof(T); }

  constexpr remote_ptr operator+(std::ptrdiff_t n) const { return remote_ptr(addr_ + static_cast<uint64_t>(n) * sizeof(T)); }
  constexpr remote_ptr operator-(std::ptrdiff_t n) const { return remote_ptr(addr_ - static_cast<uint64_t>(n) * sizeof(T)); }
  constexpr remote_ptr& operator+=(std::ptrdiff_t n) { return *this = *this + n; }
  constexpr remote_ptr& operator-=(std::ptrdiff_t n) { return *this = *this - n; }
  constexpr remote_ptr& operator++() { return *this += 1; }
  constexpr remote_ptr& operator--() { return *this -= 1; }
  // Distance in elements.
  constexpr std::ptrdiff_t operator-(remote_ptr from) const {
    return (addr_ - from.addr_) / static_cast<std::ptrdiff_t>(sizeof(T));
  }

  constexpr auto operator<=>(const remote_ptr&) const = default;

 private:
  RemoteAddr addr_;
};

// gtest and streams print addresses in hex, as fmt does.
inline std::ostream& operator<<(std::ostream& os, RemoteAddr a) { return os << fmt::format("{:#x}", a.as_int()); }
template <typename T>
std::ostream& operator<<(std::ostream& os, remote_ptr<T> p) {
  return os << p.addr();
}

}  // namespace flakelab::compel

// "{}" prints 0x1234; any integer format spec ("{:016x}") applies to the value.
template <>
struct fmt::formatter<flakelab::compel::RemoteAddr> : fmt::formatter<uint64_t> {
  bool default_spec = true;
  constexpr auto parse(fmt::format_parse_context& ctx) {
    if (ctx.begin() == ctx.end() || *ctx.begin() == '}') return ctx.begin();
    default_spec = false;
    return fmt::formatter<uint64_t>::parse(ctx);
  }
  template <typename FormatContext>
  auto format(flakelab::compel::RemoteAddr a, FormatContext& ctx) const {
    if (default_spec) return fmt::format_to(ctx.out(), "{:#x}", a.as_int());
    return fmt::formatter<uint64_t>::format(a.as_int(), ctx);
  }
};

template <typename T>
struct fmt::formatter<flakelab::compel::remote_ptr<T>> : fmt::formatter<flakelab::compel::RemoteAddr> {
  template <typename FormatContext>
  auto format(flakelab::compel::remote_ptr<T> p, FormatContext& ctx) const {
    return fmt::formatter<flakelab::compel::RemoteAddr>::format(p.addr(), ctx);
  }
};
