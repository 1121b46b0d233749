// One argument of a remote system call: an integer or a tracee address, never a
// local pointer (which means nothing in the tracee). It becomes a register value
// only inside RemoteSession / the batch table, the one place the ABI is met.
#pragma once

#include <cstdint>
#include <type_traits>

#include "flakelab/compel/remote_ptr.h"

namespace flakelab::compel {

class SyscallArg {
 public:
  constexpr SyscallArg() = default;
  // Integers as the C library passes them: signed ones sign-extended (-1 stays -1),
  // unsigned ones zero-extended.
  template <typename I>
    requires(std::is_integral_v<I> || (std::is_enum_v<I> && std::is_convertible_v<I, long long>))
  constexpr SyscallArg(I value) : value_(static_cast<uint64_t>(value)) {}
  constexpr SyscallArg(RemoteAddr addr) : value_(addr.as_int()) {}
  template <typename T>
  constexpr SyscallArg(remote_ptr<T> ptr) : value_(ptr.as_int()) {}

  constexpr uint64_t register_value() const { return value_; }

 private:
  uint64_t value_ = 0;
};

}  // namespace flakelab::compel
