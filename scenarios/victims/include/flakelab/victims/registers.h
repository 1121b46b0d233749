// Register values a checkpoint or an injection must not change: victims load known
// values into callee-saved GP registers and ymm8-11 around a system call and compare.
#pragma once

#include <cstdint>

namespace flakelab::victims {

struct RegSnapshot {
  uint64_t gp[5];      // rbx, r12, r13, r14, r15
  uint8_t ymm[4][32];  // ymm8..ymm11
};

// Issues syscall `nr` with `in` loaded into rbx, r12-r15 and ymm8-11, and stores what
// those registers hold after the syscall into *out: a checkpoint or an injection in
// the middle of the call must leave them unchanged.
long syscall_keeping_registers(long nr, long a1, long a2, long a3, long a4, const RegSnapshot* in,
                               RegSnapshot* out);

}  // namespace flakelab::victims
