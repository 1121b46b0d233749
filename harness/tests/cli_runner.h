// Test helper: run the built `flakelab` binary (FLAKELAB_BIN) in a directory, with
// its stdout and stderr captured in files there, and collect its exit code.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace flakelab::harness::testing {

struct Ran {
  int code = -1;
  std::string out;
  std::string err;
};

inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline std::string describe(const Ran& ran) {
  return "exit " + std::to_string(ran.code) + "\nstdout:\n" + ran.out + "stderr:\n" + ran.err;
}

// Starts flakelab with `args` in `dir`, output to dir/stdout and dir/stderr.
inline pid_t spawn_flakelab(const std::filesystem::path& dir, const std::vector<std::string>& args) {
  const std::filesystem::path out = dir / "stdout";
  const std::filesystem::path err = dir / "stderr";
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0 || ::chdir(dir.c_str()) != 0) ::_exit(126);
    std::vector<char*> argv{const_cast<char*>(FLAKELAB_BIN)};
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    ::execv(FLAKELAB_BIN, argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits for a spawned flakelab and collects its exit code and output.
inline Ran finish_flakelab(const std::filesystem::path& dir, pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) throw std::runtime_error("waitpid");
  Ran ran;
  ran.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  ran.out = slurp(dir / "stdout");
  ran.err = slurp(dir / "stderr");
  return ran;
}

}  // namespace flakelab::harness::testing
