// Instructions compel borrows from code the victim already has, so that it never
// writes into the victim's own code and every thread it touches can get back to
// its own context without the injector.
//
//   syscall_ret: `syscall; ret` (0f 05 c3). A remote syscall runs here; its `ret`
//                pops the next step from the thread's stack.
//   sigreturn:   `mov $15, %rax; syscall` (glibc's __restore_rt). Reached by that
//                `ret`, it runs rt_sigreturn on a frame compel wrote below the red
//                zone of the thread's stack: original registers, FPU state, mask.
//
// Both are found in the victim's executable mappings (the thread's own, then libc,
// then the others). The offsets are cached per mapped file (path, inode, file
// offset, length) and per process, and the bytes are checked in the victim each
// time, so a stale cache cannot mislead.
#pragma once

#include <sys/types.h>

#include "flakelab/compel/remote_ptr.h"

namespace flakelab::compel {

struct ReturnGadgets {
  RemoteAddr syscall_ret;
  RemoteAddr sigreturn;
  // `pop %rdi; ret`, `pop %rsi; ret`, `pop %rax; ret` from the same mapping as
  // syscall_ret, or null: a continuation can then make a syscall of its own
  // (RemoteSession::syscall_then).
  RemoteAddr pop_rdi, pop_rsi, pop_rax;
  bool can_chain() const { return !pop_rdi.is_null() && !pop_rsi.is_null() && !pop_rax.is_null(); }
  RemoteAddr ret() const { return syscall_ret + 2; }  // the `ret` alone
};

// Throws CompelError (ENOEXEC) naming the pid when the victim has no such code (a
// static binary without them, say): compel then refuses before touching it.
// The executable mapping holding `rip` (the thread's own code) is searched first and
// wins if it has both: a process the engine builds itself runs in a trampoline that
// carries them, while the libc it started with goes away.
ReturnGadgets find_return_gadgets(pid_t pid, RemoteAddr rip);

}  // namespace flakelab::compel
