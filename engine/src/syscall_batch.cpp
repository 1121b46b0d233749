#include "syscall_batch.h"

#include <sys/uio.h>
#include <sys/user.h>

#include <cerrno>
#include <utility>

#include "flakelab/compel/error.h"
#include "flakelab/compel/remote_memory.h"
#include "flakelab/engine/error.h"

namespace flakelab::engine {
namespace {

// The scratch area: data first, then the call table.
constexpr size_t kDataSize = 32 * 1024;
constexpr size_t kMaxCalls = (Trampoline::kSize - Trampoline::kCodeSize - kDataSize) / (kBatchEntryWords * 8);

// One call as the trampoline's batch loop reads it: nr and six arguments.
struct BatchEntry {
  uint64_t words[kBatchEntryWords];
};
static_assert(sizeof(BatchEntry) == kBatchEntryWords * 8);

}  // namespace

SyscallBatch::SyscallBatch(compel::RemoteSession& session, pid_t pid, const Trampoline& t, std::string context)
    : session_(session), pid_(pid), t_(t), context_(std::move(context)) {
  static_assert(kDataSize < Trampoline::kSize - Trampoline::kCodeSize);
  static_assert(kMaxCalls >= 64);
}

compel::RemoteAddr SyscallBatch::put(const void* data, size_t size) {
  size_t aligned = (size + 15) & ~size_t{15};
  if (aligned > kDataSize) throw EngineError("restore: " + std::to_string(size) + " bytes of syscall arguments (" + context_ + ")");
  if (data_.size() + aligned > kDataSize) {
    flush();  // the pending calls read what is there now; then the area is free
    data_.clear();
    data_written_ = 0;
  }
  compel::RemoteAddr addr = t_.scratch() + data_.size();
  const auto* bytes = static_cast<const uint8_t*>(data);
  data_.insert(data_.end(), bytes, bytes + size);
  data_.resize(data_.size() + (aligned - size), 0);
  return addr;
}

void SyscallBatch::add(std::string what, long nr, compel::SyscallArg a1, compel::SyscallArg a2, compel::SyscallArg a3,
                       compel::SyscallArg a4, compel::SyscallArg a5, compel::SyscallArg a6) {
  if (whats_.size() == kMaxCalls) flush();
  entries_.push_back(compel::SyscallArg(nr).register_value());
  for (compel::SyscallArg a : {a1, a2, a3, a4, a5, a6}) entries_.push_back(a.register_value());
  whats_.push_back(std::move(what));
}

void SyscallBatch::flush() {
  if (whats_.empty()) return;
  const compel::remote_ptr<BatchEntry> table(t_.scratch() + kDataSize);
  iovec local[2] = {{data_.data() + data_written_, data_.size() - data_written_},
                    {entries_.data(), entries_.size() * sizeof(uint64_t)}};
  iovec remote[2] = {compel::remote_iovec(t_.scratch() + data_written_, local[0].iov_len),
                     compel::remote_iovec(table, local[1].iov_len)};
  ssize_t want = static_cast<ssize_t>(local[0].iov_len + local[1].iov_len);
  if (process_vm_writev(pid_, local, 2, remote, 2, 0) != want)
    compel::throw_errno("process_vm_writev pid " + std::to_string(pid_) + " (syscall batch, " + context_ + ")");
  data_written_ = data_.size();

  user_regs_struct regs = session_.original_regs();
  regs.rip = (t_.base + kBatchOffset).as_int();
  regs.r12 = table.as_int();
  regs.r13 = whats_.size();
  user_regs_struct after = session_.run_to_trap(regs, t_.base + kBatchTrapOffset);
  std::vector<std::string> whats = std::move(whats_);
  whats_.clear();
  entries_.clear();
  if (after.r13 == 0) return;
  // r12 is left on the failed call's entry.
  const compel::remote_ptr<BatchEntry> failed(after.r12);
  const std::ptrdiff_t index = failed - table;
  long err = -static_cast<long>(after.rax);
  if (failed < table || static_cast<size_t>(index) >= whats.size() || err <= 0 || err >= 4096)
    throw compel::CompelError("remote syscall batch (" + context_ + "): the batch loop stopped in an impossible state",
                              EIO);
  compel::throw_errno("remote " + whats[static_cast<size_t>(index)] + " (" + context_ + ") in tid " + std::to_string(session_.thread().tid()),
                      static_cast<int>(err));
}

}  // namespace flakelab::engine
