// Runs trials of a scenario, each in a process of its own, isolated and timed.
//
// A trial process is forked by a TrialHost (trial_host.h): pid 1 of its own pid, mount
// and network namespaces, with its own /proc. The host reuses its namespaces for the
// next trial only after everything the trial started is killed and reaped and no socket
// is left in the network namespace, so abstract unix names never collide or carry over;
// with TrialOptions::reuse_host off, every trial gets a new host (new namespaces, ~2.5 ms
// more per trial). The trial process is a subreaper: orphans of its processes come to
// it. Given a temp dir, it works in it (cwd, $TMPDIR, stdout/stderr to output.log there).
// It pins itself as the injector, runs the scenario, and sends the result back over a
// pipe.
//
// At the timeout the trial gets SIGABRT (its handler passes SIGABRT to every process of
// the trial and exits), and if it is still there after a grace period its host gets
// SIGKILL (which ends the namespaces and everything in them); or, with keep_hung, every
// process of the trial is stopped (SIGSTOP) and left for a debugger, with its host.
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
#include <optional>
#include <string>
#include <vector>

#include "flakelab/base/unique_fd.h"
#include "flakelab/harness/placement.h"
#include "flakelab/harness/trial_host.h"
#include "flakelab/results/store.h"
#include "flakelab/scenarios/scenario.h"

namespace flakelab::harness {

class Topology;
struct JitterSpec;

// The namespaces each trial host (and so each trial process) gets.
inline constexpr unsigned long kTrialNamespaces = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET;

struct TrialOptions {
  double timeout_s = 10;     // SIGABRT the trial after this long
  double abort_grace_s = 1;  // then SIGKILL it if it is still there after this long
  bool keep_hung = false;    // at the timeout, SIGSTOP the trial's processes and keep them
  bool reuse_host = true;    // run the next trial in the same host (false: new namespaces per trial)
};

struct TrialRequest {
  scenarios::Scenario* scenario = nullptr;
  const std::map<std::string, std::string>* params = nullptr;  // every declared param
  int64_t index = 0;
  uint64_t seed = 0;
  Placement placement;
  const JitterSpec* jitter = nullptr;  // none if null
  std::string temp_dir;                // "" = none: the trial keeps the harness's cwd and stdio
  const std::vector<std::string>* failure_regexes = nullptr;  // the run's --failure, for the scenario
};

struct TrialOutcome {
  results::Outcome outcome = results::Outcome::kPass;
  std::string message;       // empty on pass
  std::string cpus_used;     // as the trial recorded it, e.g. "victim=0,injector=1"
  double duration_ms = 0;    // from asking the host for the trial process until it and
                             // everything it started were reaped
  bool interrupted = false;  // SIGINT/SIGTERM arrived: the trial was killed, not judged
  bool netns_renewed = false;  // something was left in the network namespace: the host moved to a new one
  // keep_hung: the trial timed out and its processes were left stopped (trial process
  // first; host pids).
  std::vector<pid_t> kept_pids;
};

// One trial process in flight, with its host; their sole owner. Destroying it kills the
// host, and so the trial.
class RunningTrial {
 public:
  using Clock = std::chrono::steady_clock;

  // The trial `host` was asked to start at `start`, writing its result to `result_fd`.
  RunningTrial(std::unique_ptr<TrialHost> host, base::UniqueFd result_fd, const TrialOptions& options, int64_t index,
               Clock::time_point start);
  RunningTrial(const RunningTrial&) = delete;
  RunningTrial& operator=(const RunningTrial&) = delete;

  int64_t index() const { return index_; }
  // The trial process, in the harness's pid namespace: known once it was signalled (at a
  // timeout; always for a kept trial), -1 before.
  pid_t pid() const { return pid_; }
  pid_t host_pid() const { return host_->pid(); }
  // Over: exited, killed, or (keep_hung) stopped and kept. finish() then gives the outcome.
  bool done() const { return state_ == State::kExited || state_ == State::kKept; }
  bool kept() const { return state_ == State::kKept; }

  // The fds to poll (the host's reports, readable when the trial has ended and been
  // cleaned up or the host died; the result pipe, -1 once closed).
  void poll_fds(pollfd& host, pollfd& result) const;
  void on_poll(const pollfd& host, const pollfd& result);
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
  // After finish(): the host, ready for the next trial, if it may be reused (it is alive,
  // the trial ended on its own, TrialOptions::reuse_host); null otherwise.
  std::unique_ptr<TrialHost> take_host();

 private:
  enum class State { kRunning, kAborting, kKilling, kExited, kKept };
  void read_result();
  void kill_now();
  // Gets the trial's pidfd from the host if not yet done; false if the trial has ended
  // meanwhile (the state is then kExited).
  bool trial_pidfd();

  std::unique_ptr<TrialHost> host_;
  base::UniqueFd pidfd_;  // of the trial process, once needed
  pid_t pid_ = -1;
  std::optional<TrialEnd> end_;  // the host's report; none if the host died
  base::UniqueFd result_fd_;
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

  // Starts a trial in `host` if it serves `request` (see TrialHost::serves), else in a
  // new host. Throws HarnessError when it cannot be started.
  std::unique_ptr<RunningTrial> start(const TrialRequest& request, std::unique_ptr<TrialHost> host = nullptr) const;

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

// The processes of the trial process `pid` and its descendants (pids of the caller's
// namespace, parents before children), from the parent links in /proc/PID/stat.
std::vector<pid_t> process_tree(pid_t pid);

}  // namespace flakelab::harness
