// Perturbation by noise processes (`--noise KIND@WHERE`): each burns one PU chosen
// relative to the victim's, for a whole cell of trials, so the victim and the injector
// run next to a busy SMT sibling, a cache-thrashing neighbour in their L3, or a
// syscall-heavy PU.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "flakelab/base/child_process.h"

namespace flakelab::harness {

class Topology;

enum class NoiseKind {
  kSpin,     // a tight arithmetic loop
  kCache,    // writes a buffer twice the PU's L3 (capped), line by line
  kSyscall,  // cheap system calls back to back (getppid, clock_gettime via syscall)
};
enum class NoiseWhere {
  kSmtSibling,  // another PU of the victim's core
  kSameL3,      // a PU of another core sharing the victim's L3
  kOtherL3,     // a PU under a different L3 than the victim's
};

struct NoiseSpec {
  NoiseKind kind = NoiseKind::kSpin;
  NoiseWhere where = NoiseWhere::kSmtSibling;
  bool operator==(const NoiseSpec&) const = default;
};

struct NoiseThread {
  NoiseKind kind = NoiseKind::kSpin;
  int cpu = -1;
  bool operator==(const NoiseThread&) const = default;
};

const char* to_string(NoiseKind kind);    // "spin", "cache", "syscall"
const char* to_string(NoiseWhere where);  // "smt-sibling", "same-l3", "other-l3"

// "spin@smt-sibling,cache@same-l3" -> specs; "" -> none. Throws UsageError with the
// expected form.
std::vector<NoiseSpec> parse_noise(std::string_view text);
// Inverse of parse_noise ("" for none).
std::string format_noise(const std::vector<NoiseSpec>& specs);

// One noise process pinned to one PU; killed (SIGKILL) and reaped when destroyed. The
// constructor returns once the process has pinned itself and its affinity was read
// back. Throws HarnessError.
class NoiseProcess {
 public:
  NoiseProcess(const Topology& topology, NoiseThread thread);
  pid_t pid() const { return child_.pid(); }
  const NoiseThread& thread() const { return thread_; }
  // Still running (noise must not die in the middle of a cell).
  bool alive() const;

 private:
  NoiseThread thread_;
  base::ChildProcess child_;
};

}  // namespace flakelab::harness
