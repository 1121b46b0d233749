// Remote syscalls made in batches. A restore makes ~150 syscalls inside the target
// (63 of them rt_sigaction); one at a time each costs a ptrace round trip (set
// registers, resume, wait, read registers). A batch writes its calls and the memory
// they read into the trampoline's scratch area with one process_vm_writev and runs
// the trampoline's batch loop (trampoline.h), which stops at the first failure:
// one round trip for the lot. Calls run in the order added, only at flush().
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "flakelab/compel/remote_ptr.h"
#include "flakelab/compel/remote_session.h"
#include "flakelab/compel/syscall_arg.h"
#include "trampoline.h"

namespace flakelab::engine {

class SyscallBatch {
 public:
  // `context` ends every error message ("restoring pid N").
  SyscallBatch(compel::RemoteSession& session, pid_t pid, const Trampoline& t, std::string context);
  // Pending calls are not made: flush() explicitly (an error must be able to throw).
  ~SyscallBatch() = default;
  SyscallBatch(const SyscallBatch&) = delete;
  SyscallBatch& operator=(const SyscallBatch&) = delete;

  // Copies `size` bytes to where the pending calls will find them; returns their
  // address in the target, valid for calls added until the next flush() that put() causes.
  compel::RemoteAddr put(const void* data, size_t size);
  // Arguments as RemoteSession::syscall's: integers or tracee addresses.
  void add(std::string what, long nr, compel::SyscallArg a1 = {}, compel::SyscallArg a2 = {},
           compel::SyscallArg a3 = {}, compel::SyscallArg a4 = {}, compel::SyscallArg a5 = {},
           compel::SyscallArg a6 = {});
  // Makes the pending calls. Throws CompelError("remote <what> (<context>) in tid N:
  // <errno text>") for the first that fails; the calls after it are not made.
  void flush();
  size_t pending() const { return whats_.size(); }

 private:
  compel::RemoteSession& session_;
  pid_t pid_;
  Trampoline t_;
  std::string context_;
  std::vector<uint8_t> data_;      // staged for [scratch, scratch + kDataSize)
  size_t data_written_ = 0;        // how much of data_ the target already has
  std::vector<uint64_t> entries_;  // kBatchEntryWords per call
  std::vector<std::string> whats_;
};

}  // namespace flakelab::engine
