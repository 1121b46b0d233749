// The isolated home of one worker's trials: a process that is pid 1 of its own pid,
// mount and network namespaces, with its own /proc, and forks one trial process at a
// time on request.
//
// Creating those namespaces costs ~2.5 ms per trial on this kind of machine (a mount
// namespace's teardown waits for an RCU grace period, a network namespace's creation and
// cleanup take ~1.4 ms), eight times a no-op trial. A host pays it once per worker and
// cell. Between two trials it makes the namespaces as good as new:
// - when the trial process has exited, the host SIGKILLs every other process of its pid
//   namespace and reaps them all, so nothing of one trial outlives it;
// - the network namespace is kept only if no socket is left in it (sock_diag: unix, TCP,
//   UDP; in-flight unix sockets can outlive their processes until the kernel's garbage
//   collector runs) and its loopback device is still down; otherwise the host moves to a
//   new one (unshare), so abstract unix names never carry over to the next trial.
// Trials run one at a time in a host, and hosts never share namespaces, so trials that
// run at the same time never share one either.
//
// The host is a fork of the harness: the scenario, its params and jitter, and the
// topology it was created with are its own copies, fixed for its life. Each trial
// brings its index, seed, placement and temp dir.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "flakelab/base/child_process.h"
#include "flakelab/base/unique_fd.h"

namespace flakelab::harness {

class Topology;
struct TrialRequest;

// What the host says when a trial it started has ended.
struct TrialEnd {
  int status = 0;             // the trial process's waitpid() status
  bool netns_renewed = false; // something was left in the network namespace: a new one next time
};

class TrialHost {
 public:
  // Forks the host. `prototype`'s scenario, params and jitter (and `topology`) are what
  // the host's trials run; they must not change while the host lives. Throws HarnessError.
  TrialHost(const Topology& topology, const TrialRequest& prototype);
  TrialHost(const TrialHost&) = delete;
  TrialHost& operator=(const TrialHost&) = delete;
  // Kills the host (SIGKILL) and reaps it: its namespaces die with it, and with them
  // anything still running there.
  ~TrialHost();

  // Whether `request` runs the scenario, params and jitter this host was made for.
  bool serves(const TrialRequest& request) const;

  // Starts `request`'s trial; it writes its result to `result_write`. Throws HarnessError
  // (the host is then unusable: alive() is false).
  void start(const TrialRequest& request, base::UniqueFd result_write);
  // The running trial's pidfd (asked for only when the trial is to be signalled); empty
  // if the trial has ended meanwhile (then has_end() is true) or the host died.
  base::UniqueFd trial_pidfd();

  // Readable when the host has news (the end of the trial, or its own death).
  int report_fd() const { return control_.get(); }
  // Whether the end is already known (read while asking for the pidfd): read_end() then
  // does not wait, and report_fd() may not become readable.
  bool has_end() const { return pending_.has_value(); }
  // The end of the current trial, once report_fd() is readable or has_end(); nullopt if
  // the host died instead (it was killed, or failed: see failure()).
  std::optional<TrialEnd> read_end();

  struct ReportMessage;

  // SIGKILLs the host: the trial and everything in its namespaces die. Then reap().
  void kill() { process_.kill(); }
  // Reaps a killed or dead host; returns its waitpid() status.
  int reap() { return process_.wait(); }

  bool alive() const { return alive_; }
  pid_t pid() const { return process_.pid(); }
  // Why the host gave up, if it said so before dying ("" otherwise).
  const std::string& failure() const { return failure_; }

 private:
  const void* scenario_;
  const void* params_;
  const void* jitter_;
  base::UniqueFd control_;      // before process_: the constructor sets it while forking
  base::ChildProcess process_;
  bool alive_ = true;
  std::string failure_;
  std::optional<std::optional<TrialEnd>> pending_;  // a report read by trial_pidfd()

  std::optional<TrialEnd> decode_report(ssize_t n, ReportMessage& report);
};

// The pid, in the caller's pid namespace, of the process `pidfd` refers to; -1 once it
// has been reaped. Throws HarnessError.
pid_t pid_of_pidfd(int pidfd);

}  // namespace flakelab::harness
