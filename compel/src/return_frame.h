// The rt_sigframe compel writes below the red zone of a thread's stack before it
// changes the thread's registers: rt_sigreturn on it gives the thread back its
// original registers, FPU state and signal mask, with no help from the injector.
//
//   slot  (rsp of a remote syscall): the next step, popped by `syscall; ret`:
//         a bare `ret` (go straight on) or undo code compel placed in its own page
//   frame (slot + 8): pretcode = the sigreturn gadget, then the ucontext
//   fpstate (64-byte aligned, above the frame)
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <vector>

#include "flakelab/compel/remote_ptr.h"
#include "flakelab/compel/return_gadgets.h"

namespace flakelab::compel {

struct ReturnFrame {
  RemoteAddr slot;            // rsp while compel runs a remote syscall
  RemoteAddr frame() const { return slot + 8; }
  std::vector<uint8_t> bytes; // from `slot` upwards
};

// The frame that returns to `regs` (as the thread was stopped: syscall restart is
// applied here, since rt_sigreturn turns it off) with `xstate` and `sigmask`. The
// alternate signal stack is left as it is.
ReturnFrame build_return_frame(const user_regs_struct& regs, const std::vector<uint8_t>& xstate, uint64_t sigmask,
                               const ReturnGadgets& gadgets, pid_t pid);

}  // namespace flakelab::compel
