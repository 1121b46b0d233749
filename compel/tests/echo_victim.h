// Self-checking victim processes for compel tests and benchmarks, run in a forked
// child. Each reports over pipes so the test can tell an intact victim from one
// that merely survived.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "flakelab/base/child_process.h"
#include "flakelab/base/unique_fd.h"
#include "flakelab/victims/registers.h"

namespace flakelab::compel::testing {

using victims::RegSnapshot;
using victims::syscall_keeping_registers;

// A forked child that is killed and reaped when the object goes away.
class Child {
 public:
  Child() = default;
  explicit Child(const std::function<void()>& body) : process_(base::ChildProcess::fork(body)) {}
  pid_t pid() const { return process_.owns() ? process_.pid() : -1; }
  // Waits for exit; returns the raw wait status (0 if there is no child).
  int wait() {
    if (!process_.owns()) return 0;
    int status = process_.wait();
    process_ = base::ChildProcess();
    return status;
  }
  // Kills (SIGKILL) and reaps.
  void kill_and_reap() { process_.kill_and_reap(); }

 private:
  base::ChildProcess process_;
};

// The echo victim reads a 32-bit number inside a system call while holding known
// values in callee-saved GP registers and ymm8-11, then answers {number, flags}:
// bit 0 = registers intact across the syscall, bit 1 = its 1 MiB memory checksum
// still matches. It serves until its input pipe closes.
struct EchoVictim {
  Child child;
  base::UniqueFd to_victim;    // write numbers here
  base::UniqueFd from_victim;  // read {number, flags}
  static EchoVictim start(const std::function<void()>& before_loop = {});
  // Sends `n`, waits (up to timeout_ms) for the answer; returns flags, or -1 on
  // timeout/EOF, and checks the echoed number.
  int echo(uint32_t n, int timeout_ms = 5000);
};

constexpr int kRegsIntact = 1;
constexpr int kMemoryIntact = 2;

// Waits until `pid` sits in a blocking syscall (state S) or times out.
bool wait_until_sleeping(pid_t pid, int timeout_ms = 5000);
// Reads one line from /proc/PID/stat-ish sources: state letter of the process.
char process_state(pid_t pid);

}  // namespace flakelab::compel::testing
