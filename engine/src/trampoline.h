// The restored process's first home: a small mapping at an address that neither
// the restorer nor the image uses. Its first page holds code that reports "ready"
// on a pipe and then sleeps in pause(); the rest is scratch memory for arguments
// of remote syscalls (structs and strings the kernel reads from the target).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "flakelab/compel/remote_ptr.h"

namespace flakelab::engine {

struct Trampoline {
  static constexpr uint64_t kSize = 16 * 4096;
  static constexpr uint64_t kCodeSize = 4096;
  compel::RemoteAddr base;  // in the target (and, while it is cloned, in the restorer's copy)
  compel::RemoteAddr end() const { return base + kSize; }
  compel::RemoteAddr scratch() const { return base + kCodeSize; }
  uint64_t scratch_size() const { return kSize - kCodeSize; }
  bool contains(compel::RemoteAddr addr) const { return addr >= base && addr < end(); }
};

// Machine code. At offset 0: write(ready_fd, "R", 1); for (;;) pause();
// At kSpawnOffset: syscall (the injector loads clone3 arguments, and r12: the
// caller's pid for a new process, 0 for a thread); the parent thread then traps
// (int3) back to the injector. A new process sets PR_SET_PDEATHSIG(SIGKILL) and
// exits (121) if its parent is no longer the caller; then the new thread or
// process sleeps in pause() with the signals it inherited blocked, until the
// injector takes it over.
// At kBatchOffset: makes the syscalls of a table one after the other (r12: the
// table, 7 words per call: nr and six arguments; r13: how many), stopping at the
// first that fails; then int3 at kBatchTrapOffset. On the trap r13 is 0 if all
// succeeded, else r12 points at the failed call and rax holds -errno.
std::vector<uint8_t> trampoline_code(int ready_fd);
// At kGadgetOffset: `syscall; ret`, then `mov $15, %rax; syscall`, which compel's
// remote syscalls return through (return_gadgets.h) once the restorer's libc is gone.
inline constexpr uint64_t kSpawnOffset = 64;
inline constexpr uint64_t kBatchOffset = 128;
inline constexpr uint64_t kBatchTrapOffset = kBatchOffset + 0x3a;
inline constexpr uint64_t kGadgetOffset = 192;
inline constexpr uint64_t kBatchEntryWords = 7;

// clone3() with set_tid = {pid}; the child blocks all signals, asks for SIGKILL
// if the restorer dies (and exits at once if it died already), maps the
// trampoline at `t.base`, copies `code` there and jumps to it on a stack inside it. Returns the child's pid in the parent; retries
// while the pid is taken (EEXIST) for up to `wait_ms`. Throws EngineError.
pid_t clone_into_trampoline(pid_t pid, const Trampoline& t, const std::vector<uint8_t>& code, int wait_ms);

}  // namespace flakelab::engine
