// Dumping credentials and seccomp filters (Thread.creds, Process.seccomp_filters),
// read from /proc/PID/task/TID/status and ptrace while the process is frozen;
// securebits come from one remote prctl per thread (dump_steps.cpp).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "flakelab/engine/image.h"

namespace flakelab::engine {

// A thread's credentials as /proc/PID/task/TID/status and loginuid show them
// (everything but securebits, which only the thread can tell). Throws EngineError.
pb::Credentials read_credentials(pid_t pid, pid_t tid);

// One seccomp filter as ptrace returns it: struct sock_filter[] and its flags.
struct SeccompFilterBytes {
  std::string program;
  uint32_t flags = 0;
  bool operator==(const SeccompFilterBytes&) const = default;
};
// The filters of a thread we trace and that is stopped, oldest first
// (PTRACE_SECCOMP_GET_FILTER, PTRACE_SECCOMP_GET_METADATA). Throws EngineError.
std::vector<SeccompFilterBytes> read_seccomp_filters(pid_t tid);

// Why the threads of `pid` cannot be dumped for their credentials, from /proc
// without touching them, or "": a thread under seccomp needs us to suspend its
// filters (PTRACE_O_SUSPEND_SECCOMP: CAP_SYS_ADMIN, no seccomp of our own), or the
// remote syscalls of the dump would be filtered, or kill it (strict mode).
std::string check_credentials_dumpable(pid_t pid);

// Fills creds of every thread of `p` (tids in p.threads, which already hold their
// securebits) and p.seccomp_filters, equal chains recorded once.
void dump_credentials(pid_t pid, pb::Process& p);

}  // namespace flakelab::engine
