// Code compel places in a page it mapped into a victim, run as the return step of
// a remote session (RemoteSession::set_return_step) when the injector is gone:
// it closes one fd compel opened there (if any), unmaps the page it lives in by
// jumping to the victim's own `syscall; ret` (so none of its bytes run after the
// munmap) and so reaches the thread's rt_sigreturn. 128 bytes, position-independent.
//
//   +0   int32 fd to close, -1 for none, or kUndoFdFromResult: the result of the
//        syscall just made (set before an fd-making syscall: no window between
//        the fd's birth and the injector writing its number here)
//   +16  code
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "flakelab/compel/remote_ptr.h"

namespace flakelab::compel {

inline constexpr size_t kUndoCodeSize = 128;
inline constexpr size_t kUndoFdOffset = 0;
inline constexpr size_t kUndoEntryOffset = 16;
inline constexpr int32_t kUndoFdFromResult = -2;

// Undo code for a page mapping [base, base + size), run from inside it.
std::array<uint8_t, kUndoCodeSize> undo_code(int fd, RemoteAddr base, size_t size,
                                             RemoteAddr syscall_ret);

}  // namespace flakelab::compel
