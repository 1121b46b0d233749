// The engine parameters every checkpoint/restore scenario declares, their checks, and
// the engine a trial's parameters choose.
#include <fcntl.h>
#include <fmt/format.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include "flakelab/base/child_process.h"
#include "flakelab/scenarios/checkpoint_engine.h"
#include "flakelab/scenarios/scenario.h"

namespace flakelab::scenarios {
namespace {

bool executable(const std::string& path) {
  return ::access(path.c_str(), X_OK) == 0 && !std::filesystem::is_directory(path);
}

// `criu` -> "/usr/local/sbin/criu" (as a shell would find it); "./x" -> absolute.
std::string find_cli(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (!executable(name)) throw std::invalid_argument(fmt::format("engine_cli={}: not an executable file", name));
    return std::filesystem::absolute(name).lexically_normal().string();
  }
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    if (executable(candidate)) return std::filesystem::absolute(candidate).lexically_normal().string();
  }
  throw std::invalid_argument(fmt::format("engine_cli={}: no such executable in PATH", name));
}

}  // namespace

std::vector<ParamSpec> engine_params() {
  return {
      ParamSpec::choice("engine", "library", {"library", "cli"},
                        "checkpoint with flakelab's engine in the trial (library), or with the CRIU-compatible "
                        "CLI engine_cli (cli; `flakelab run --engine-cli PATH` sets both)"),
      ParamSpec::string("engine_cli", "",
                        "engine=cli: the CLI whose `dump -t PID -D DIR` and `restore -D DIR -d --pidfile F` are "
                        "called (e.g. criu, or flakelab itself)"),
      ParamSpec::string("engine_version", "",
                        "set by flakelab from `engine_cli --version` (part of the cell key); not to be given"),
  };
}

std::string engine_cli_version(const std::string& path) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::invalid_argument(fmt::format("pipe for {} --version: {}", path, strerror(errno)));
  base::ChildProcess child;
  try {
    child = base::ChildProcess::fork([&] {
      int in = ::open("/dev/null", O_RDONLY);
      if (in < 0 || dup2(in, 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[1], 2) < 0) _exit(127);
      execl(path.c_str(), path.c_str(), "--version", static_cast<char*>(nullptr));
      dprintf(2, "exec: %s\n", strerror(errno));
      _exit(127);
    });
  } catch (const std::exception& e) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::invalid_argument(fmt::format("{} --version: {}", path, e.what()));
  }
  ::close(fds[1]);
  std::string output;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (output.size() < 64 * 1024) output.append(buffer, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  const int status = child.wait();
  std::string text;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    const size_t last = line.find_last_not_of(" \t\r");
    if (!text.empty()) text += ' ';
    text.append(line, first, last - first + 1);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::invalid_argument(fmt::format("{} --version {}: {}", path, base::describe_wait_status(status),
                                            text.empty() ? "(no output)" : text));
  if (text.empty()) throw std::invalid_argument(fmt::format("{} --version printed nothing", path));
  for (char& c : text)
    if (c == ',' || c == '=') c = ';';
  if (text.size() > 120) text.resize(120);
  return text;
}

void complete_engine_params(std::map<std::string, std::string>& params) {
  auto engine = params.find("engine");
  if (engine == params.end()) return;
  std::string& cli = params["engine_cli"];
  std::string& version = params["engine_version"];
  if (!version.empty())
    throw std::invalid_argument("engine_version is set by flakelab from `engine_cli --version`; do not give it");
  if (engine->second == "library") {
    if (!cli.empty())
      throw std::invalid_argument(fmt::format("engine_cli={} needs engine=cli (or use --engine-cli, which sets both)", cli));
    return;
  }
  if (cli.empty()) throw std::invalid_argument("engine=cli needs engine_cli=PATH (or --engine-cli PATH)");
  cli = find_cli(cli);
  version = engine_cli_version(cli);
}

bool is_flakelab_cli(const std::string& path) {
  return std::filesystem::path(path).filename().string().rfind("flakelab", 0) == 0;
}

bool uses_engine_cli(const TrialContext& ctx) {
  auto engine = ctx.params.find("engine");  // absent when a caller fills only some params
  return engine != ctx.params.end() && engine->second == "cli";
}

std::unique_ptr<CheckpointEngine> make_engine(const TrialContext& ctx) {
  if (!uses_engine_cli(ctx)) return make_library_engine(ctx.engine_log());
  return make_cli_engine(ctx.param("engine_cli"), ctx.param("engine_version"),
                         ctx.temp_dir.empty() ? std::filesystem::temp_directory_path().string() : ctx.temp_dir);
}

}  // namespace flakelab::scenarios
