// Errors of the harness and the process exit codes they map to.
#pragma once

#include <stdexcept>
#include <string>

namespace flakelab::harness {

// Process exit codes of `flakelab`.
enum ExitCode : int {
  kExitOk = 0,            // no trial failed
  kExitTrialsFailed = 1,  // some trial failed, timed out or errored
  kExitUsage = 2,         // bad command line: unknown scenario/param/CPU, bad syntax
  kExitHarness = 3,       // the harness itself failed: database, fork, namespaces, hwloc
};

// A bad command line. The message is meant for the user as is.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The harness could not do its job (not a trial's fault).
class HarnessError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "<what>: <strerror(err)>", e.g. "open /proc/12/task: No such file or directory".
std::string errno_text(const std::string& what, int err);

// A HarnessError for the current errno.
HarnessError os_error(const std::string& what);

// Prints "flakelab: MESSAGE" on stderr (after flushing stdout, so the two stay in order)
// and returns `code`, for `return print_failure(kExitUsage, ...)`.
int print_failure(int code, const std::string& message);

}  // namespace flakelab::harness
