// zdtm: one of CRIU's zdtm test programs (test/zdtm/static/NAME, or any program that
// follows the same protocol) through checkpoint cycles, as CRIU's test/zdtm.py drives it
// in the host flavor: start it with --pidfile/--outfile (and the arguments its Makefile
// gives it), wait until it daemonized and wrote its pidfile, run its .hook, dump it with
// its .desc options, restore it, `iters` times, then SIGTERM it and read PASS or FAIL
// from its out file. The engine is the library or any CRIU-compatible CLI.
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "flakelab/base/child_process.h"
#include "flakelab/base/temp_dir.h"
#include "flakelab/scenarios/checkpoint_engine.h"
#include "flakelab/scenarios/dumped_tree.h"
#include "flakelab/scenarios/loopback.h"
#include "flakelab/scenarios/scenario.h"
#include "flakelab/scenarios/zdtm_desc.h"

namespace flakelab::scenarios {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> non_empty_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
  return lines;
}

// The test's daemon: started by the test's launcher (which exits once the pidfile is
// written), restored by the engine; killed and reaped on the way out. We are the child
// subreaper, so it is always our child to reap.
class TestPid {
 public:
  TestPid() = default;
  ~TestPid() { kill_and_reap(); }
  TestPid(const TestPid&) = delete;
  TestPid& operator=(const TestPid&) = delete;
  void own(pid_t pid) { pid_ = pid; }
  pid_t get() const { return pid_; }
  // Waits up to `timeout` for the process to exit and reaps it; its wait status, or
  // nothing on timeout.
  std::optional<int> wait_exit(milliseconds timeout) {
    const auto deadline = steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG | __WALL);
      if (r == pid_) {
        pid_ = -1;
        return status;
      }
      if (r < 0 && errno != EINTR) {
        // Not our child (e.g. outside a subreaper): wait until it is gone.
        if (::kill(pid_, 0) != 0) {
          pid_ = -1;
          return 0;
        }
      }
      if (steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(milliseconds(1));
    }
  }
  void kill_and_reap() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    wait_exit(seconds(5));
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

// How zdtm.py starts TEST: its Makefile's NAME.pid rule (which adds --filename/--dirname
// for the tests that take them), else the bare protocol arguments. Returned as a shell
// command run in the trial's directory with the binary's absolute path.
std::string start_command(const std::string& test) {
  const fs::path path(test);
  const std::string name = path.filename().string();
  const std::string dir = path.parent_path().string();
  std::string line = fmt::format("./{} --pidfile={}.pid --outfile={}.out", name, name, name);
  if (fs::exists(dir + "/Makefile")) {
    const std::string make = fmt::format("make --no-print-directory -s -C '{}' --dry-run '{}.pid' 2>/dev/null", dir, name);
    if (FILE* pipe = popen(make.c_str(), "r")) {
      std::string output;
      char buffer[4096];
      size_t n;
      while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
      const int status = pclose(pipe);
      const std::vector<std::string> lines = non_empty_lines(output);
      // The recipe line names the binary as ./NAME (or dir/NAME).
      if (status == 0 && !lines.empty() && lines.back().find("--pidfile") != std::string::npos) line = lines.back();
    }
  }
  const size_t space = line.find(' ');
  const std::string rest = space == std::string::npos ? "" : line.substr(space);
  return fmt::format("exec '{}'{}", fs::absolute(path).string(), rest);
}

std::vector<std::string> concat(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::string> out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

class ZdtmScenario : public Scenario {
 public:
  std::string name() const override { return "zdtm"; }
  std::string description() const override {
    return "one of CRIU's zdtm tests (or a program following its protocol) through dump/kill/restore cycles as "
           "zdtm.py runs it in the host flavor; the test's own PASS/FAIL is the verdict";
  }
  std::vector<std::string> jitter_points() const override { return {"before_dump", "between_dump_and_restore"}; }
  std::vector<ParamSpec> params() const override {
    std::vector<ParamSpec> all = {
        ParamSpec::string("test", "", "path of the zdtm test binary, e.g. CRIU/test/zdtm/static/env00 (required)"),
        ParamSpec::integer("iters", 1, 1, 100, "dump/restore cycles before the test checks itself (zdtm.py --iters)"),
        ParamSpec::integer("restore_delay_us", 0, 0, 10'000'000,
                           "microseconds to sleep between the dump (which kills the test) and the restore"),
        ParamSpec::choice("flavor_check", "desc", {"desc", "ignore"},
                          "desc: skip a test whose .desc excludes zdtm's host flavor; ignore: run it anyway (CRIU's "
                          "scm06 is excluded from h for the very race the scm06 scenario measures)"),
    };
    const std::vector<ParamSpec> engine = engine_params();
    all.insert(all.end(), engine.begin(), engine.end());
    return all;
  }

  std::optional<std::string> skip_reason(const std::map<std::string, std::string>& params) const override {
    const std::string& test = params.at("test");
    if (test.empty()) throw std::invalid_argument("zdtm needs --param test=PATH of a zdtm test binary");
    if (access(test.c_str(), X_OK) != 0 || fs::is_directory(test))
      throw std::invalid_argument(fmt::format("test={}: not an executable file", test));
    zdtm::ZdtmDesc desc = zdtm::read_zdtm_desc(test);
    auto engine = params.find("engine");
    const bool criu = engine != params.end() && engine->second == "cli" && !is_flakelab_cli(params.at("engine_cli"));
    if (params.at("flavor_check") == "ignore") desc.flavors.push_back("h");
    return zdtm::zdtm_skip_reason(test, desc, criu ? params.at("engine_cli") : "");
  }

  TrialResult run(TrialContext& ctx) override {
    const std::string test = fs::absolute(ctx.param("test")).string();
    const std::string test_name = fs::path(test).filename().string();
    const int iters = std::stoi(ctx.param("iters"));
    const long long delay_us = std::stoll(ctx.param("restore_delay_us"));
    zdtm::ZdtmDesc desc;
    try {
      desc = zdtm::read_zdtm_desc(test);
    } catch (const std::invalid_argument& e) {
      return TrialResult::error(e.what());
    }
    const milliseconds timeout = seconds(desc.timeout_s);
    std::optional<base::TempDir> own_dir;
    if (ctx.temp_dir.empty()) own_dir.emplace("", "flakelab-zdtm-");
    const std::string work = own_dir ? own_dir->path() : ctx.temp_dir;
    // Orphans (the test's daemon once its launcher exits, a tree a CLI engine restored)
    // become our children, so we can wait for them and nothing escapes the trial.
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
      return TrialResult::error(fmt::format("prctl(PR_SET_CHILD_SUBREAPER): {}", strerror(errno)));
    try {
      bring_loopback_up();  // as in zdtm.py's host flavor
    } catch (const std::runtime_error& e) {
      return TrialResult::error(e.what());
    }
    const std::string pidfile = work + "/" + test_name + ".pid";
    const std::string outfile = work + "/" + test_name + ".out";
    const std::string hook = test + ".hook";
    const bool has_hook = access(hook.c_str(), X_OK) == 0;
    // zdtm.py runs hooks from CRIU's test/ directory (they name zdtm/static/...).
    const fs::path test_dir = fs::path(test).parent_path();
    const std::string hook_dir = test_dir.filename() == "static" && test_dir.parent_path().filename() == "zdtm"
                                     ? test_dir.parent_path().parent_path().string()
                                     : test_dir.string();

    TestPid daemon;
    std::string images;  // the current iteration's, for ZDTM_IMG_DIR
    auto run_hook = [&](const std::string& stage) -> std::optional<TrialResult> {
      if (!has_hook) return std::nullopt;
      const int status = run_child(hook_dir, {hook, stage}, daemon.get(), work, seconds(30), images);
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return std::nullopt;
      return TrialResult::fail(fmt::format("{}.hook {}: {}", test_name, stage, base::describe_wait_status(status)));
    };

    // Start: the launcher forks the test's daemon and exits once it is ready.
    const std::string command = start_command(test);
    const int launched = run_child(work, {"/bin/sh", "-c", command}, 0, work, timeout);
    if (launched != 0) {
      return TrialResult::fail(fmt::format("start: `{}` {}{}", command, base::describe_wait_status(launched),
                                           out_tail(outfile)));
    }
    try {
      daemon.own(static_cast<pid_t>(std::stol(read_text(pidfile))));
    } catch (const std::exception&) {
      return TrialResult::fail(fmt::format("start: `{}` wrote no pid to {}", command, pidfile));
    }
    ctx.record_binding(Role::kVictim, daemon.get());
    if (auto failed = run_hook("--post-start")) return *failed;

    std::unique_ptr<CheckpointEngine> engine;
    try {
      engine = make_engine(ctx);
    } catch (const std::exception& e) {
      return TrialResult::error(fmt::format("engine: {}", e.what()));
    }
    for (int iter = 1; iter <= iters; ++iter) {
      images = fmt::format("{}/images-{}", work, iter);
      if (auto failed = run_hook("--pre-dump")) return *failed;
      ctx.jitter_point("before_dump");
      const std::vector<pid_t> tree = process_tree(daemon.get());
      try {
        engine->dump({.pid = daemon.get(), .dir = images, .leave_running = false, .options = concat(desc.opts, desc.dopts)});
      } catch (const EngineFailure& e) {
        // crfail: the dump must fail, and the test then finishes as if never dumped.
        if (desc.has_flag("crfail")) break;
        return TrialResult::fail(fmt::format("iteration {} {}", iter, e.what()));
      }
      if (desc.has_flag("crfail"))
        return TrialResult::fail(fmt::format("iteration {}: dump succeeded, but the test's .desc says it must fail (crfail)", iter));
      const pid_t pid = daemon.get();
      if (!daemon.wait_exit(timeout) || !wait_tree_gone(tree, timeout))
        return TrialResult::fail(fmt::format("iteration {}: the tree of pid {} still runs after the dump killed it", iter, pid));
      if (auto failed = run_hook("--pre-restore")) return *failed;
      if (delay_us > 0) std::this_thread::sleep_for(microseconds(delay_us));
      ctx.jitter_point("between_dump_and_restore");
      pid_t restored = -1;
      try {
        restored = engine->restore({.dir = images, .options = concat(desc.opts, desc.ropts), .unix_gc_wait = std::nullopt});
      } catch (const EngineFailure& e) {
        return TrialResult::fail(fmt::format("iteration {} {}", iter, e.what()));
      }
      daemon.own(restored);
      if (restored != pid)
        return TrialResult::fail(fmt::format("iteration {}: restored pid {} instead of {}", iter, restored, pid));
      if (auto failed = run_hook("--post-restore")) return *failed;
    }

    // Stop: SIGTERM, and the test writes its verdict.
    const pid_t pid = daemon.get();
    if (::kill(pid, SIGTERM) != 0)
      return TrialResult::fail(fmt::format("stop: pid {} is gone: {}{}", pid, strerror(errno), out_tail(outfile)));
    auto status = daemon.wait_exit(timeout);
    if (!status)
      return TrialResult::fail(fmt::format("stop: pid {} did not exit within {} s of SIGTERM{}", pid, desc.timeout_s,
                                           out_tail(outfile)));
    const std::vector<std::string> lines = non_empty_lines(read_text(outfile));
    if (!lines.empty()) {
      std::istringstream last(lines.back());
      for (std::string word; last >> word;)
        if (word == "PASS") return TrialResult::pass();
    }
    return TrialResult::fail(fmt::format("{} did not PASS ({}){}", test_name, base::describe_wait_status(*status),
                                         out_tail(outfile)));
  }

 private:
  // ": <the out file's last 3 lines>", or "" if it has none.
  // (zdtm's library writes NAME.out.inprogress and renames it to NAME.out at exit.)
  static std::string out_tail(const std::string& outfile) {
    std::vector<std::string> lines = non_empty_lines(read_text(outfile));
    if (lines.empty()) lines = non_empty_lines(read_text(outfile + ".inprogress"));
    std::string tail;
    for (size_t i = lines.size() > 3 ? lines.size() - 3 : 0; i < lines.size(); ++i)
      {
      if (!tail.empty()) tail += " | ";
      tail += lines[i];
    }
    return tail.empty() ? "" : ": " + tail;
  }

  // Runs argv in `dir` (stdin /dev/null, output appended to WORK/zdtm-run.log, the
  // test's pid in ZDTM_TEST_PID and the image directory in ZDTM_IMG_DIR as zdtm.py sets
  // them) and returns its wait status; killed after `timeout`.
  static int run_child(const std::string& dir, const std::vector<std::string>& argv, pid_t test_pid,
                       const std::string& work, milliseconds timeout = seconds(30), const std::string& images = "") {
    const std::string log = work + "/zdtm-run.log";
    base::ChildProcess child = base::ChildProcess::fork([&] {
      int in = ::open("/dev/null", O_RDONLY);
      int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (chdir(dir.c_str()) != 0 || in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        _exit(127);
      close_range(3, ~0U, 0);
      if (test_pid > 0) setenv("ZDTM_TEST_PID", std::to_string(test_pid).c_str(), 1);
      if (!images.empty()) setenv("ZDTM_IMG_DIR", images.c_str(), 1);
      std::vector<char*> args;
      for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      dprintf(2, "exec %s: %s\n", args[0], strerror(errno));
      _exit(127);
    });
    // The pidfd turns readable when the child exits.
    pollfd exited{.fd = child.pidfd(), .events = POLLIN, .revents = 0};
    int ready;
    while ((ready = poll(&exited, 1, static_cast<int>(timeout.count()))) < 0 && errno == EINTR) {
    }
    if (ready == 0) child.kill();
    return child.wait();
  }
};

}  // namespace

std::unique_ptr<Scenario> make_zdtm() { return std::make_unique<ZdtmScenario>(); }

}  // namespace flakelab::scenarios
