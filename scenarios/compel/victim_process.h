// Support shared by the compel/* scenarios: a forked victim owned by the trial, and
// small I/O helpers with timeouts so that a broken victim fails a trial instead of
// hanging it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "flakelab/base/child_process.h"
#include "flakelab/base/unique_fd.h"
#include "flakelab/scenarios/scenario.h"

namespace flakelab::scenarios::compel_support {

using flakelab::base::UniqueFd;

struct PipePair {
  UniqueFd read;
  UniqueFd write;
  static PipePair make();   // O_CLOEXEC
};

// A forked child that runs `body` after pinning itself as `role`; killed (SIGKILL)
// and reaped when the owner goes away. The child dies with its parent.
class VictimProcess {
 public:
  VictimProcess(TrialContext& ctx, Role role, const std::function<void()>& body);
  pid_t pid() const { return process_.pid(); }
  // True if the child has not exited.
  bool alive() { return process_.alive(); }

 private:
  base::ChildProcess process_;
};

// Writes all bytes; throws std::system_error.
void write_all(int fd, const void* data, size_t size);
// Reads exactly `size` bytes within `timeout_ms`; false on timeout or EOF.
bool read_exact(int fd, void* data, size_t size, int timeout_ms = 2000);
// Reads bytes from a victim's memory (process_vm_readv); nullopt if unreadable.
std::optional<std::vector<uint8_t>> read_remote(pid_t pid, uint64_t addr, size_t size);
// Writes everything in a child that is about to _exit; ignores errors.
void write_quiet(int fd, const void* data, size_t size);

}  // namespace flakelab::scenarios::compel_support
