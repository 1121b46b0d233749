// Runs trials of a scenario, each in a process of its own, isolated and timed.
//
// The trial process is created with clone(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET)
// and continues on the harness's stack like fork(). It is pid 1 of a new pid
// namespace, so when it exits or is killed the kernel kills every process the trial
// started; it mounts its own /proc (private to its mount namespace) so that pids under
// /proc are those of its namespace; and it has its own network namespace, so abstract
// unix socket names never collide between trials. Given a temp dir, it works in it
// (cwd, $TMPDIR, stdout/stderr to output.log there). It pins itself as the injector,
// runs the scenario, and sends the result back over a pipe.
//
// At the timeout the trial gets SIGABRT (its handler passes SIGABRT to every process of
// the trial and exits), and SIGKILL if it is still there after a grace period; or, with
// keep_hung, every process of the trial is stopped (SIGSTOP) and left for a debugger.
//
// Trials are started with start() and driven by wait_for_trials(), so that one
// single-threaded harness runs several at once (no fork from a multi-threaded process).
#pragma once

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "flakelab/harness/child_process.h"
#include "flakelab/harness/placement.h"
#include "flakelab/harness/unique_fd.h"
#include "flakelab/results/store.h"
#include "flakelab/scenarios/scenario.h"

namespace flakelab::harness {

class Topology;
struct JitterSpec;

// The namespaces each trial process gets.
inline constexpr unsigned long kTrialNamespaces = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET;

struct TrialOptions {
  double timeout_s = 10;     // SIGABRT the trial after this long
  double abort_grace_s = 1;  // then SIGKILL it if it is still there after this long
  bool keep_hung = false;    // at the timeout, SIGSTOP the trial's processes and keep them
};

struct TrialRequest {
  scenarios::Scenario* scenario = nullptr;
  const std::map<std::string, std::string>* params = nullptr;  // every declared param
  int64_t index = 0;
  uint64_t seed = 0;
  Placement placement;
  const JitterSpec* jitter = nullptr;  // none if null
  std::string temp_dir;                // "" = none: the trial keeps the harness's cwd and stdio
};

struct TrialOutcome {
  results::Outcome outcome = results::Outcome::kPass;
  std::string message;       // empty on pass
  std::string cpus_used;     // as the trial recorded it, e.g. "victim=0,injector=1"
  double duration_ms = 0;    // from creating the trial process until it was reaped
  bool interrupted = false;  // SIGINT/SIGTERM arrived: the trial was killed, not judged
  // keep_hung: the trial timed out and its processes were left stopped (trial process
  // first; host pids).
  std::vector<pid_t> kept_pids;
};

// One trial process in flight; its sole owner. Destroying it kills and reaps it.
class RunningTrial {
 public:
  using Clock = std::chrono::steady_clock;

  // `start`: when the trial process was created (just before clone).
  RunningTrial(ChildProcess child, UniqueFd result_fd, const TrialOptions& options, int64_t index,
               Clock::time_point start);
  RunningTrial(const RunningTrial&) = delete;
  RunningTrial& operator=(const RunningTrial&) = delete;

  int64_t index() const { return index_; }
  pid_t pid() const { return child_.pid(); }
  // Over: exited, killed, or (keep_hung) stopped and kept. finish() then gives the outcome.
  bool done() const { return state_ == State::kExited || state_ == State::kKept; }
  bool kept() const { return state_ == State::kKept; }

  // The fds to poll (result pipe, -1 once closed; pidfd, readable at exit).
  void poll_fds(pollfd& pidfd, pollfd& result) const;
  void on_poll(const pollfd& pidfd, const pollfd& result);
  // When on_time() next has something to do (timeout, end of grace).
  Clock::time_point next_deadline() const;
  // Escalates at the deadlines: SIGABRT, SIGKILL, or SIGSTOP with keep_hung.
  void on_time(Clock::time_point now);
  // SIGKILL now, for an interrupted run: the outcome says interrupted, not judged.
  void interrupt();

  // Reaps (unless kept) and judges. Call once, when done() (or after interrupt()).
  TrialOutcome finish();
  // For a kept trial: whether its process has exited (someone killed it).
  bool kept_exited() const;

 private:
  enum class State { kRunning, kAborting, kKilling, kExited, kKept };
  void read_result();
  void kill_now();

  ChildProcess child_;
  UniqueFd result_fd_;
  TrialOptions options_;
  int64_t index_;
  Clock::time_point start_;
  Clock::time_point deadline_;
  State state_ = State::kRunning;
  bool timed_out_ = false;
  bool sigkilled_after_abort_ = false;
  bool interrupted_ = false;
  std::string bytes_;
  std::vector<pid_t> kept_pids_;
};

class TrialRunner {
 public:
  TrialRunner(const Topology& topology, TrialOptions options);
  // As above, with a fixed placement for run(scenario, ...).
  TrialRunner(const Topology& topology, Placement placement, TrialOptions options);

  // Starts a trial. Throws HarnessError when it cannot be started.
  std::unique_ptr<RunningTrial> start(const TrialRequest& request) const;

  // Runs one trial to its end (blocking).
  TrialOutcome run(const TrialRequest& request) const;
  // Runs trial `index` with `params` (every declared param, defaults applied), trial
  // seed `seed` and the runner's placement, without temp dir or jitter.
  TrialOutcome run(scenarios::Scenario& scenario, const std::map<std::string, std::string>& params,
                   int64_t index, uint64_t seed) const;

  const TrialOptions& options() const { return options_; }

 private:
  const Topology& topology_;
  Placement placement_;
  TrialOptions options_;
};

// Waits until one of `trials` has news (output, exit) or a deadline of one passes, or
// until `until`, and lets each handle it. Returns false if a signal interrupted the
// wait (SIGINT/SIGTERM with the harness's handlers, or any handled signal otherwise:
// the caller decides whether to stop). Throws HarnessError.
bool wait_for_trials(const std::vector<RunningTrial*>& trials, RunningTrial::Clock::time_point until);

// The processes of the trial process `pid` and its descendants (host pids, parents
// before children), from /proc/PID/task/TID/children.
std::vector<pid_t> process_tree(pid_t pid);

}  // namespace flakelab::harness
