#include "flakelab/harness/trial_runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "flakelab/harness/binding.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/interrupt.h"
#include "flakelab/harness/jitter.h"
#include "flakelab/harness/topology.h"
#include "flakelab/harness/trial_wire.h"

namespace flakelab::harness {
namespace {

using Clock = std::chrono::steady_clock;
using scenarios::Role;
using scenarios::Verdict;

constexpr size_t kMaxMessageBytes = 64 * 1024;   // longer messages are cut
constexpr size_t kMaxFrameBytes = 1024 * 1024;   // a trial sending more is broken
constexpr int kExitResultWriteFailed = 125;
// The trial process's exit status after the harness's SIGABRT at a timeout.
constexpr int kExitAbortedAtTimeout = 124;

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// Gives the trial its own /proc, so that /proc/PID names pids of its pid namespace
// (scenarios and hwloc read /proc/PID/task, /proc/self/...). /proc is made private
// first so that the new mount cannot propagate back to the host's mount namespace.
void mount_trial_proc() {
  if (::mount(nullptr, "/proc", nullptr, MS_PRIVATE, nullptr) != 0) {
    throw os_error("mount(MS_PRIVATE) /proc in the trial's mount namespace");
  }
  if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    throw os_error("mount proc on /proc in the trial's mount namespace");
  }
}

// Works in the trial's private directory: cwd, $TMPDIR, and stdout/stderr (the
// scenario's and its victims') into output.log there.
void enter_temp_dir(const std::string& dir) {
  const std::string log = dir + "/output.log";
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  if (fd < 0) throw os_error("open " + log);
  if (::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0) throw os_error("dup2 " + log + " to stdout/stderr");
  if (fd > 2) ::close(fd);
  if (::chdir(dir.c_str()) != 0) throw os_error("chdir " + dir);
  if (::setenv("TMPDIR", dir.c_str(), 1) != 0) throw os_error("setenv TMPDIR");
}

// The harness's SIGABRT at a timeout comes from the parent pid namespace (si_pid 0):
// pass it on to every process of the trial (they may dump core into the temp dir) and
// end. An abort() of the trial's own code just ends the trial with status 134.
void on_abort(int, siginfo_t* info, void*) {
  if (info->si_pid == 0) {
    ::kill(-1, SIGABRT);
    ::_exit(kExitAbortedAtTimeout);
  }
  ::_exit(128 + SIGABRT);
}

void install_abort_handler() {
  struct sigaction action {};
  action.sa_sigaction = on_abort;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  if (::sigaction(SIGABRT, &action, nullptr) != 0) throw os_error("sigaction(SIGABRT) in the trial");
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Body of the trial process (pid 1 of its pid namespace). Never returns.
[[noreturn]] void trial_main(int result_fd, const Topology& topology, const TrialRequest& request) {
  // The trial starts with stdin/stdout/stderr and its result pipe only: the harness's
  // other descriptors (the database, other trials' pipes) stay out of scenarios and victims.
  if (result_fd > 3) ::close_range(3, static_cast<unsigned>(result_fd) - 1, 0);
  ::close_range(static_cast<unsigned>(std::max(result_fd + 1, 3)), ~0U, 0);
  WireResult result;
  BindingRecorder binding(topology, request.placement);
  bool ready = false;
  try {
    reset_signal_dispositions();
    install_abort_handler();
    // If the harness dies, so does the trial (and with it its whole pid namespace).
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) throw os_error("prctl(PR_SET_PDEATHSIG)");
    if (!request.temp_dir.empty()) enter_temp_dir(request.temp_dir);
    mount_trial_proc();
    binding.bind_self(Role::kInjector);
    binding.record(Role::kInjector, ::getpid());
    ready = true;

    static const JitterSpec kNoJitter;
    Jitter jitter(request.jitter != nullptr ? *request.jitter : kNoJitter, request.seed);
    scenarios::TrialContext ctx;
    ctx.seed = request.seed;
    ctx.index = request.index;
    ctx.params = *request.params;
    ctx.temp_dir = request.temp_dir;
    ctx.bind_self = [&binding](Role role) { binding.bind_self(role); };
    ctx.record_binding = [&binding](Role role, pid_t pid) { binding.record(role, pid); };
    ctx.cpu_of = [&binding](Role role) { return binding.cpu_of(role); };
    if (request.jitter != nullptr && !request.jitter->empty()) {
      ctx.jitter_point = [&jitter](std::string_view point) { jitter.at(point); };
    }
    scenarios::TrialResult verdict = request.scenario->run(ctx);
    result.verdict = verdict.verdict;
    result.message = std::move(verdict.message);
  } catch (const std::exception& e) {
    result.verdict = Verdict::kError;
    result.message = ready ? e.what() : fmt::format("trial setup failed: {}", e.what());
  } catch (...) {
    result.verdict = Verdict::kError;
    result.message = "scenario threw an exception that is not a std::exception";
  }
  if (result.message.size() > kMaxMessageBytes) {
    result.message.resize(kMaxMessageBytes);
    result.message += " [cut]";
  }
  result.cpus_used = binding.cpus_used();
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(write_all(result_fd, encode_result(result)) ? 0 : kExitResultWriteFailed);
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

void send_signal(const ChildProcess& child, int sig, const char* name) {
  if (::syscall(SYS_pidfd_send_signal, child.pidfd(), sig, nullptr, 0) != 0 && errno != ESRCH) {
    throw os_error(fmt::format("pidfd_send_signal({}) to trial pid {} (pidfd {})", name, child.pid(), child.pidfd()));
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

RunningTrial::RunningTrial(ChildProcess child, UniqueFd result_fd, const TrialOptions& options, int64_t index,
                           Clock::time_point start)
    : child_(std::move(child)),
      result_fd_(std::move(result_fd)),
      options_(options),
      index_(index),
      start_(start),
      deadline_(start_ + seconds(options.timeout_s)) {}

void RunningTrial::poll_fds(pollfd& pidfd, pollfd& result) const {
  pidfd = {state_ == State::kKept || state_ == State::kExited ? -1 : child_.pidfd(), POLLIN, 0};
  result = {result_fd_ ? result_fd_.get() : -1, POLLIN, 0};
}

void RunningTrial::read_result() {
  if (!result_fd_) return;
  if (!drain(result_fd_.get(), bytes_) || bytes_.size() > kMaxFrameBytes) result_fd_.reset();
}

void RunningTrial::on_poll(const pollfd& pidfd, const pollfd& result) {
  if (result.fd >= 0 && result.revents != 0) read_result();
  if (pidfd.fd >= 0 && pidfd.revents != 0) state_ = State::kExited;
}

RunningTrial::Clock::time_point RunningTrial::next_deadline() const {
  return state_ == State::kRunning || state_ == State::kAborting ? deadline_ : Clock::time_point::max();
}

void RunningTrial::kill_now() {
  child_.kill();
  state_ = State::kKilling;
}

void RunningTrial::on_time(Clock::time_point now) {
  if (now < deadline_) return;
  if (state_ == State::kRunning) {
    timed_out_ = true;
    if (options_.keep_hung) {
      // Top down, so that a stopped parent cannot fork behind the scan; re-scan until
      // nothing new appears.
      send_signal(child_, SIGSTOP, "SIGSTOP");
      std::set<pid_t> stopped{child_.pid()};
      for (bool more = true; more;) {
        more = false;
        for (pid_t pid : process_tree(child_.pid())) {
          if (stopped.insert(pid).second) {
            ::kill(pid, SIGSTOP);
            more = true;
          }
        }
      }
      kept_pids_ = process_tree(child_.pid());
      state_ = State::kKept;
      return;
    }
    send_signal(child_, SIGABRT, "SIGABRT");
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
  pollfd pfd{child_.pidfd(), POLLIN, 0};
  return ::poll(&pfd, 1, 0) > 0;
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
  const int status = child_.reaped() ? 0 : child_.wait();
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
  if (bytes_.empty()) {
    outcome.message = WIFSIGNALED(status)
                          ? fmt::format("trial process {}", describe_wait_status(status))
                          : fmt::format("trial process {} without writing a result", describe_wait_status(status));
  } else {
    outcome.message = fmt::format("trial process {} after writing a malformed result ({} bytes)",
                                  describe_wait_status(status), bytes_.size());
  }
  return outcome;
}

TrialRunner::TrialRunner(const Topology& topology, TrialOptions options)
    : topology_(topology), options_(options) {}

TrialRunner::TrialRunner(const Topology& topology, Placement placement, TrialOptions options)
    : topology_(topology), placement_(std::move(placement)), options_(options) {}

std::unique_ptr<RunningTrial> TrialRunner::start(const TrialRequest& request) const {
  // Buffered output would otherwise be written twice if a child ever flushed it.
  std::fflush(stdout);
  std::fflush(stderr);
  PipeFds pipe = make_pipe();
  if (::fcntl(pipe.read.get(), F_SETFL, O_NONBLOCK) != 0) {
    throw os_error(fmt::format("fcntl(O_NONBLOCK) trial result pipe (fd {})", pipe.read.get()));
  }
  // fork()-like clone: no new stack, the child continues here. CLONE_PIDFD puts a
  // pidfd for the child in `pidfd` (the parent_tid argument).
  int pidfd = -1;
  const auto start = Clock::now();
  const long pid = ::syscall(SYS_clone, kTrialNamespaces | CLONE_PIDFD | SIGCHLD, nullptr, &pidfd, nullptr, nullptr);
  if (pid < 0) throw os_error("clone(CLONE_NEWPID|CLONE_NEWNS|CLONE_NEWNET|CLONE_PIDFD) for a trial");
  if (pid == 0) trial_main(pipe.write.get(), topology_, request);
  ChildProcess child(static_cast<pid_t>(pid), UniqueFd(pidfd));
  pipe.write.reset();
  return std::make_unique<RunningTrial>(std::move(child), std::move(pipe.read), options_, request.index, start);
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
