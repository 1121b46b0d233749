// An external CRIU-compatible engine: each dump and restore runs the CLI as a child of
// the trial process, its output in a file beside the trial's other artifacts.
#include <fcntl.h>
#include <fmt/format.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "flakelab/base/child_process.h"
#include "flakelab/scenarios/checkpoint_engine.h"
#include "flakelab/scenarios/loopback.h"

namespace flakelab::scenarios {
namespace {

// Runs argv[0] with stdin /dev/null and stdout+stderr into `output` (a file, not a pipe:
// a detached restored tree must not keep a pipe of ours open); returns the wait status.
int run_cli(const std::vector<std::string>& argv, const std::string& output) {
  base::ChildProcess child = base::ChildProcess::fork([&] {
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(127);
    // Only 0-2: CRIU refuses to dump or restore around fds it cannot resolve.
    close_range(3, ~0U, 0);
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    dprintf(2, "exec %s: %s\n", args[0], strerror(errno));
    _exit(127);
  });
  return child.wait();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// "    237: Error (...)" -> "Error (...)": CRIU's restore prefixes a task's lines with its pid.
std::string without_pid(const std::string& line) {
  size_t at = line.find_first_not_of(' ');
  const size_t digits = line.find_first_not_of("0123456789", at);
  if (at == std::string::npos || digits == at || digits == std::string::npos || line.compare(digits, 2, ": ") != 0)
    return line;
  return line.substr(digits + 2);
}

// What the engine said went wrong: its first error line (CRIU: "Error (file:line): ..."),
// else its last non-empty line. CRIU logs "rlimit: Can't setup RLIMIT_NOFILE for self" as
// an error on every call without CAP_SYS_RESOURCE in the bounding set, and carries on.
std::string error_lines(const std::string& output) {
  std::istringstream in(output);
  std::string line, last;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (line.find("Can't setup RLIMIT_NOFILE for self") != std::string::npos) continue;
    if (line.find("Error") != std::string::npos || line.find("error") != std::string::npos) return without_pid(line);
    last = line;
  }
  return last.empty() ? "(no output)" : last;
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& word : words) {
    if (!out.empty()) out += ' ';
    out += word;
  }
  return out;
}

class CliEngine final : public CheckpointEngine {
 public:
  CliEngine(std::string path, std::string version, std::string output_dir)
      : path_(std::move(path)), version_(std::move(version)), output_dir_(std::move(output_dir)) {}

  std::string describe() const override { return fmt::format("cli {} ({})", path_, version_); }
  bool is_flakelab() const override { return is_flakelab_cli(path_); }

  void dump(const EngineDump& request) override {
    if (mkdir(request.dir.c_str(), 0700) != 0 && errno != EEXIST)
      throw EngineFailure(fmt::format("dump: mkdir {}: {}", request.dir, strerror(errno)));
    std::vector<std::string> argv = {path_, "dump", "-t", std::to_string(request.pid), "-D", request.dir};
    if (request.leave_running) argv.push_back("--leave-running");
    argv.insert(argv.end(), request.options.begin(), request.options.end());
    call("dump", argv);
  }

  pid_t restore(const EngineRestore& request) override {
    const std::string pidfile = request.dir + "/restore.pid";
    ::unlink(pidfile.c_str());
    std::vector<std::string> argv = {path_, "restore", "-D", request.dir, "-d", "--pidfile", pidfile};
    if (request.unix_gc_wait && is_flakelab())
      argv.insert(argv.end(), {"--unix-gc-wait", fmt::format("{}us", request.unix_gc_wait->count())});
    argv.insert(argv.end(), request.options.begin(), request.options.end());
    call("restore", argv);
    const std::string text = read_text(pidfile);
    pid_t pid = 0;
    try {
      pid = static_cast<pid_t>(std::stol(text));
    } catch (const std::exception&) {
      pid = 0;
    }
    if (pid <= 0) throw EngineFailure(fmt::format("restore: {} exited 0 but its pidfile {} holds '{}'", path_, pidfile, text));
    return pid;
  }

 private:
  void call(const std::string& step, const std::vector<std::string>& argv) {
    if (!prepared_) {
      try {
        bring_loopback_up();
      } catch (const std::runtime_error& e) {
        throw EngineFailure(fmt::format("{}: {}", step, e.what()));
      }
      // The CLI exits once a restored tree runs, and a dump kills the tree without
      // reaping it: orphans of either are then ours to wait for and reap.
      if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        throw EngineFailure(fmt::format("{}: prctl(PR_SET_CHILD_SUBREAPER): {}", step, strerror(errno)));
      prepared_ = true;
    }
    const std::string output = fmt::format("{}/engine-{}-{}.out", output_dir_, step, ++calls_);
    int status = 0;
    try {
      status = run_cli(argv, output);
    } catch (const std::exception& e) {
      throw EngineFailure(fmt::format("{}: {}: {}", step, join(argv), e.what()));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
    // The engine's words first: they are the failure's signature.
    throw EngineFailure(fmt::format("{}: {} ({}: {}; output in {})", step, error_lines(read_text(output)),
                                    join(argv), base::describe_wait_status(status), output));
  }

  std::string path_, version_, output_dir_;
  int calls_ = 0;
  bool prepared_ = false;
};

}  // namespace

std::unique_ptr<CheckpointEngine> make_cli_engine(std::string path, std::string version, std::string output_dir) {
  return std::make_unique<CliEngine>(std::move(path), std::move(version), std::move(output_dir));
}

}  // namespace flakelab::scenarios
