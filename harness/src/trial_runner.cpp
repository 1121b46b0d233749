#include "flakelab/harness/trial_runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "flakelab/base/child_process.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/interrupt.h"
#include "flakelab/harness/pipe_fds.h"
#include "flakelab/harness/topology.h"
#include "flakelab/harness/trial_wire.h"

namespace flakelab::harness {
namespace {

using Clock = std::chrono::steady_clock;
using scenarios::Role;
using scenarios::Verdict;

constexpr size_t kMaxFrameBytes = 1024 * 1024;   // a trial sending more is broken

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// Reads what is available; returns false at end of file.
bool drain(int fd, std::string& bytes) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      bytes.append(buf, static_cast<size_t>(n));
      if (bytes.size() > kMaxFrameBytes) return false;
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return true;
    throw os_error(fmt::format("read trial result pipe (fd {})", fd));
  }
}

results::Outcome outcome_of(Verdict verdict) {
  switch (verdict) {
    case Verdict::kPass: return results::Outcome::kPass;
    case Verdict::kFail: return results::Outcome::kFail;
    case Verdict::kError: return results::Outcome::kError;
  }
  return results::Outcome::kError;
}

void send_signal(int pidfd, pid_t pid, int sig, const char* name) {
  if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) != 0 && errno != ESRCH) {
    throw os_error(fmt::format("pidfd_send_signal({}) to trial pid {} (pidfd {})", name, pid, pidfd));
  }
}

}  // namespace

std::vector<pid_t> process_tree(pid_t pid) {
  // Kernels without CONFIG_PROC_CHILDREN (this one) have no /proc/PID/task/TID/children:
  // parent links come from /proc/PID/stat instead.
  std::multimap<pid_t, pid_t> children;
  std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir("/proc"), &::closedir);
  if (!proc) throw os_error("opendir /proc");
  while (const dirent* entry = ::readdir(proc.get())) {
    char* end = nullptr;
    const long child = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0') continue;
    std::ifstream stat(fmt::format("/proc/{}/stat", child));
    std::string text;
    if (!std::getline(stat, text)) continue;  // exited meanwhile
    const size_t paren = text.rfind(')');    // comm may hold spaces and parentheses
    if (paren == std::string::npos) continue;
    std::istringstream rest(text.substr(paren + 1));
    std::string state;
    pid_t parent = 0;
    if (rest >> state >> parent) children.emplace(parent, static_cast<pid_t>(child));
  }
  std::vector<pid_t> out{pid};
  for (size_t i = 0; i < out.size(); ++i) {
    auto [begin, end] = children.equal_range(out[i]);
    for (auto it = begin; it != end; ++it) out.push_back(it->second);
  }
  return out;
}

RunningTrial::RunningTrial(std::unique_ptr<TrialHost> host, base::UniqueFd result_fd, const TrialOptions& options,
                           int64_t index, Clock::time_point start)
    : host_(std::move(host)),
      result_fd_(std::move(result_fd)),
      options_(options),
      index_(index),
      start_(start),
      deadline_(start_ + seconds(options.timeout_s)) {}

bool RunningTrial::trial_pidfd() {
  if (pidfd_) return true;
  pidfd_ = host_->trial_pidfd();
  if (pidfd_) {
    pid_ = pid_of_pidfd(pidfd_.get());
    return true;
  }
  end_ = host_->read_end();  // ended meanwhile, or the host died
  state_ = State::kExited;
  return false;
}

void RunningTrial::poll_fds(pollfd& host, pollfd& result) const {
  host = {state_ == State::kKept || state_ == State::kExited ? -1 : host_->report_fd(), POLLIN, 0};
  result = {result_fd_ ? result_fd_.get() : -1, POLLIN, 0};
}

void RunningTrial::read_result() {
  if (!result_fd_) return;
  if (!drain(result_fd_.get(), bytes_) || bytes_.size() > kMaxFrameBytes) result_fd_.reset();
}

void RunningTrial::on_poll(const pollfd& host, const pollfd& result) {
  if (result.fd >= 0 && result.revents != 0) read_result();
  if (host.fd >= 0 && host.revents != 0) {
    end_ = host_->read_end();
    state_ = State::kExited;
  }
}

RunningTrial::Clock::time_point RunningTrial::next_deadline() const {
  return state_ == State::kRunning || state_ == State::kAborting ? deadline_ : Clock::time_point::max();
}

void RunningTrial::kill_now() {
  host_->kill();  // its report fd reads end-of-file once it is gone
  state_ = State::kKilling;
}

void RunningTrial::on_time(Clock::time_point now) {
  if (now < deadline_) return;
  if (state_ == State::kRunning) {
    if (!trial_pidfd()) return;  // it ended just now: judge it as it ended
    timed_out_ = true;
    if (options_.keep_hung) {
      // Top down, so that a stopped parent cannot fork behind the scan; re-scan until
      // nothing new appears.
      send_signal(pidfd_.get(), pid_, SIGSTOP, "SIGSTOP");
      std::set<pid_t> stopped{pid_};
      for (bool more = true; more;) {
        more = false;
        for (pid_t pid : process_tree(pid_)) {
          if (stopped.insert(pid).second) {
            ::kill(pid, SIGSTOP);
            more = true;
          }
        }
      }
      kept_pids_ = process_tree(pid_);
      state_ = State::kKept;
      return;
    }
    send_signal(pidfd_.get(), pid_, SIGABRT, "SIGABRT");
    state_ = State::kAborting;
    deadline_ = now + seconds(options_.abort_grace_s);
    return;
  }
  if (state_ == State::kAborting) {
    sigkilled_after_abort_ = true;
    kill_now();
  }
}

void RunningTrial::interrupt() {
  interrupted_ = true;
  if (state_ != State::kExited) kill_now();
}

bool RunningTrial::kept_exited() const {
  pollfd pfd{pidfd_.get(), POLLIN, 0};
  return ::poll(&pfd, 1, 0) > 0;
}

std::unique_ptr<TrialHost> RunningTrial::take_host() {
  if (!end_ || !host_->alive() || !options_.reuse_host || state_ != State::kExited) return nullptr;
  return std::move(host_);
}

TrialOutcome RunningTrial::finish() {
  TrialOutcome outcome;
  if (state_ == State::kKept) {
    outcome.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
    outcome.outcome = results::Outcome::kTimeout;
    outcome.kept_pids = kept_pids_;
    std::string pids;
    for (pid_t pid : kept_pids_) pids += fmt::format("{}{}", pids.empty() ? "" : " ", pid);
    outcome.message = fmt::format("timeout after {:g}s; left stopped for a debugger (--keep-hung): pids {}",
                                  options_.timeout_s, pids);
    return outcome;
  }
  // Without the host's report the host died (killed at the timeout, by an interrupt, or by
  // someone else): reap it, and with it the trial's namespaces.
  int host_status = 0;
  if (!end_) host_status = host_->reap();
  const int status = end_ ? end_->status : 0;
  outcome.netns_renewed = end_ && end_->netns_renewed;
  outcome.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
  if (result_fd_ && bytes_.size() <= kMaxFrameBytes) drain(result_fd_.get(), bytes_);
  result_fd_.reset();
  if (interrupted_) {
    outcome.interrupted = true;
    outcome.outcome = results::Outcome::kError;
    outcome.message = fmt::format("interrupted by signal {}", interrupt_signal());
    return outcome;
  }
  if (timed_out_) {
    outcome.outcome = results::Outcome::kTimeout;
    outcome.message =
        sigkilled_after_abort_
            ? fmt::format("timeout after {:g}s (SIGABRT ignored for {:g}s; SIGKILL)", options_.timeout_s,
                          options_.abort_grace_s)
            : fmt::format("timeout after {:g}s (SIGABRT)", options_.timeout_s);
    return outcome;
  }
  if (std::optional<WireResult> result = decode_result(bytes_)) {
    outcome.outcome = outcome_of(result->verdict);
    outcome.message = std::move(result->message);
    outcome.cpus_used = std::move(result->cpus_used);
    return outcome;
  }
  outcome.outcome = results::Outcome::kError;
  if (!end_) {
    outcome.message = fmt::format("trial host pid {} {}{}{}", host_->pid(), base::describe_wait_status(host_status),
                                  host_->failure().empty() ? "" : ": ", host_->failure());
  } else if (bytes_.empty()) {
    outcome.message = WIFSIGNALED(status)
                          ? fmt::format("trial process {}", base::describe_wait_status(status))
                          : fmt::format("trial process {} without writing a result", base::describe_wait_status(status));
  } else {
    outcome.message = fmt::format("trial process {} after writing a malformed result ({} bytes)",
                                  base::describe_wait_status(status), bytes_.size());
  }
  return outcome;
}

TrialRunner::TrialRunner(const Topology& topology, TrialOptions options)
    : topology_(topology), options_(options) {}

TrialRunner::TrialRunner(const Topology& topology, Placement placement, TrialOptions options)
    : topology_(topology), placement_(std::move(placement)), options_(options) {}

std::unique_ptr<RunningTrial> TrialRunner::start(const TrialRequest& request, std::unique_ptr<TrialHost> host) const {
  if (!host || !host->serves(request)) host = std::make_unique<TrialHost>(topology_, request);
  PipeFds pipe = make_pipe();
  if (::fcntl(pipe.read.get(), F_SETFL, O_NONBLOCK) != 0) {
    throw os_error(fmt::format("fcntl(O_NONBLOCK) trial result pipe (fd {})", pipe.read.get()));
  }
  const auto start = Clock::now();
  host->start(request, std::move(pipe.write));
  return std::make_unique<RunningTrial>(std::move(host), std::move(pipe.read), options_, request.index, start);
}

TrialOutcome TrialRunner::run(const TrialRequest& request) const {
  std::unique_ptr<RunningTrial> trial = start(request);
  while (!trial->done()) {
    if (!wait_for_trials({trial.get()}, RunningTrial::Clock::time_point::max()) && interrupt_signal() != 0) {
      trial->interrupt();
      break;
    }
  }
  return trial->finish();
}

TrialOutcome TrialRunner::run(scenarios::Scenario& scenario, const std::map<std::string, std::string>& params,
                              int64_t index, uint64_t seed) const {
  TrialRequest request;
  request.scenario = &scenario;
  request.params = &params;
  request.index = index;
  request.seed = seed;
  request.placement = placement_;
  return run(request);
}

bool wait_for_trials(const std::vector<RunningTrial*>& trials, RunningTrial::Clock::time_point until) {
  std::vector<pollfd> fds(2 * trials.size());
  RunningTrial::Clock::time_point wake = until;
  for (size_t i = 0; i < trials.size(); ++i) {
    trials[i]->poll_fds(fds[2 * i], fds[2 * i + 1]);
    wake = std::min(wake, trials[i]->next_deadline());
  }
  const auto now = RunningTrial::Clock::now();
  timespec wait{};
  timespec* timeout = nullptr;
  if (wake != RunningTrial::Clock::time_point::max()) {
    const auto left = std::max(std::chrono::nanoseconds(0),
                               std::chrono::duration_cast<std::chrono::nanoseconds>(wake - now));
    wait = {static_cast<time_t>(left.count() / 1000000000), static_cast<long>(left.count() % 1000000000)};
    timeout = &wait;
  }
  // ppoll unblocks SIGINT/SIGTERM only while waiting: no lost wake-up.
  if (::ppoll(fds.data(), fds.size(), timeout, interrupt_wait_mask()) < 0) {
    if (errno == EINTR) return false;
    throw os_error(fmt::format("poll {} trial processes", trials.size()));
  }
  const auto after = RunningTrial::Clock::now();
  for (size_t i = 0; i < trials.size(); ++i) {
    trials[i]->on_poll(fds[2 * i], fds[2 * i + 1]);
    if (!trials[i]->done()) trials[i]->on_time(after);
  }
  return true;
}

}  // namespace flakelab::harness
