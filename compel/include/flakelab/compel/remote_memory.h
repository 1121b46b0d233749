// Copies between the injector's memory and a tracee's (process_vm_readv/writev).
// Local memory is a pointer, tracee memory a RemoteAddr: the two cannot be
// passed the wrong way round.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <string_view>

#include "flakelab/compel/remote_ptr.h"

namespace flakelab::compel {

// The iovec for `len` bytes at `addr` in a tracee: process_vm_* take the remote
// side as a void* that the injector never dereferences (the one cast to it).
inline iovec remote_iovec(RemoteAddr addr, size_t len) { return {reinterpret_cast<void*>(addr.as_int()), len}; }

// All `size` bytes or CompelError("process_vm_writev pid P at 0x...(<what>): <errno text>").
void write_remote(pid_t pid, RemoteAddr to, const void* from, size_t size, std::string_view what);
void read_remote(pid_t pid, RemoteAddr from, void* to, size_t size, std::string_view what);

}  // namespace flakelab::compel
