#include "flakelab/base/rseq.h"

#include <sys/ptrace.h>

namespace flakelab::base {
namespace {

constexpr long kPtraceGetRseqConfiguration = 0x420f;

// struct ptrace_rseq_configuration (include/uapi/linux/ptrace.h).
struct PtraceRseqConfiguration {
  uint64_t rseq_abi_pointer;
  uint32_t rseq_abi_size;
  uint32_t signature;
  uint32_t flags;
  uint32_t pad;
};

}  // namespace

std::optional<RseqConfiguration> rseq_configuration(pid_t tid) {
  PtraceRseqConfiguration c{};
  if (ptrace(static_cast<__ptrace_request>(kPtraceGetRseqConfiguration), tid, reinterpret_cast<void*>(sizeof(c)),
             &c) <= 0 ||
      c.rseq_abi_size == 0)
    return std::nullopt;
  return RseqConfiguration{c.rseq_abi_pointer, c.rseq_abi_size, c.signature};
}

}  // namespace flakelab::base
