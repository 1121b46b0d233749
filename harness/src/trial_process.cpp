#include "trial_process.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include "flakelab/engine/log.h"
#include "flakelab/harness/binding.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/interrupt.h"
#include "flakelab/harness/jitter.h"
#include "flakelab/harness/topology.h"
#include "flakelab/harness/trial_runner.h"
#include "flakelab/harness/trial_wire.h"

namespace flakelab::harness {
namespace {

// DIR/engine.log at -v4, flushed at every line: the trial may end in _exit() or be
// killed at its timeout, and what was logged until then is what explains it.
std::shared_ptr<spdlog::logger> open_engine_log(const std::string& path) {
  auto log = std::make_shared<spdlog::logger>("engine",
                                              std::make_shared<spdlog::sinks::basic_file_sink_st>(path, true));
  engine::use_engine_log_format(*log);
  log->set_level(spdlog::level::debug);
  log->flush_on(spdlog::level::debug);
  return log;
}

using scenarios::Role;
using scenarios::Verdict;

constexpr size_t kMaxMessageBytes = 64 * 1024;  // longer messages are cut
constexpr int kExitResultWriteFailed = 125;
// The trial process's exit status after the harness's SIGABRT at a timeout.
constexpr int kExitAbortedAtTimeout = 124;

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

}  // namespace

[[noreturn]] void run_trial_process(int result_fd, const Topology& topology, const TrialRequest& request) {
  // The trial starts with stdin/stdout/stderr and its result pipe only: the harness's
  // other descriptors (the database, other trials' pipes) stay out of scenarios and victims.
  if (result_fd > 3) ::close_range(3, static_cast<unsigned>(result_fd) - 1, 0);
  ::close_range(static_cast<unsigned>(std::max(result_fd + 1, 3)), ~0U, 0);
  WireResult result;
  BindingRecorder binding(topology, request.placement);
  bool ready = false;
  try {
    reset_signal_dispositions();
    ::prctl(PR_SET_NAME, "flakelab-trial", 0, 0, 0);
    install_abort_handler();
    // If the host dies, so does the trial (the host's death ends the pid namespace anyway).
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) throw os_error("prctl(PR_SET_PDEATHSIG)");
    // Orphans of the trial's processes come to the trial process, as they would to the
    // init of a pid namespace of its own: scenarios may wait for them.
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) throw os_error("prctl(PR_SET_CHILD_SUBREAPER)");
    if (!request.temp_dir.empty()) enter_temp_dir(request.temp_dir);
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
    std::shared_ptr<spdlog::logger> engine_log;  // made when a scenario first asks for it
    if (!request.temp_dir.empty())
      ctx.engine_log = [&engine_log, dir = request.temp_dir] {
        if (!engine_log) engine_log = open_engine_log(dir + "/engine.log");
        return engine_log.get();
      };
    ctx.bind_self = [&binding](Role role) { binding.bind_self(role); };
    ctx.record_binding = [&binding](Role role, pid_t pid) { binding.record(role, pid); };
    ctx.cpu_of = [&binding](Role role) { return binding.cpu_of(role); };
    ctx.record_cpus = [&binding](std::string_view key, std::string_view cpus) { binding.note(key, cpus); };
    if (request.failure_regexes != nullptr) ctx.failure_patterns = *request.failure_regexes;
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

}  // namespace flakelab::harness
