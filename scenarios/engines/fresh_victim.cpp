#include "flakelab/scenarios/fresh_victim.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <limits.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <vector>

#include "flakelab/base/child_process.h"
#include "flakelab/scenarios/scenario.h"
#include "flakelab/victims/victims.h"

namespace flakelab::scenarios {
namespace {

// The path /proc/self/exe names, to be resolved again in this mount namespace.
std::string own_executable_path() {
  char path[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n < 0) throw std::runtime_error(fmt::format("readlink /proc/self/exe: {}", strerror(errno)));
  std::string exe(path, static_cast<size_t>(n));
  if (exe.ends_with(" (deleted)"))
    throw std::runtime_error(fmt::format("this executable {} was replaced on disk: cannot exec it for a victim", exe));
  return exe;
}

// In the exec'd image, before main(): glibc passes argc/argv to constructors. Any
// program linking the scenarios (flakelab, the tests) can thus be a victim image.
__attribute__((constructor)) void run_fresh_victim_if_asked(int argc, char** argv, char**) {
  if (argc < 5 || strcmp(argv[1], kFreshVictimArg) != 0) return;
  const std::string scenario = argv[2];
  try {
    const int ready_fd = std::stoi(argv[3]);
    TrialContext ctx;
    for (int i = 5; i < argc; ++i) {
      const char* eq = strchr(argv[i], '=');
      if (!eq) throw std::invalid_argument(fmt::format("parameter '{}' is not NAME=VALUE", argv[i]));
      ctx.params[std::string(argv[i], static_cast<size_t>(eq - argv[i]))] = eq + 1;
    }
    auto* source = dynamic_cast<FreshVictimSource*>(find_scenario(scenario));
    if (!source) throw std::invalid_argument("no scenario of that name starts fresh victims");
    victims::run_victim_body_here(ready_fd);
    source->start_own_victim(ctx, argv[4]);
    throw std::logic_error("the victim's start returned");
  } catch (const std::exception& e) {
    dprintf(2, "fresh victim of %s: %s\n", scenario.c_str(), e.what());
  }
  _exit(127);
}

}  // namespace

pid_t start_fresh_victim(const TrialContext& ctx, const std::string& scenario, const std::string& arg,
                         const std::function<void()>& setup) {
  const std::string exe = own_executable_path();
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("{} victim: pipe: {}", scenario, strerror(errno)));
  // The exec'd victim keeps the write end: fd 3, after stdin, stdout and stderr.
  std::vector<std::string> words = {exe, kFreshVictimArg, scenario, "3", arg};
  for (const auto& [name, value] : ctx.params) words.push_back(name + "=" + value);
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    ::close(ready[0]);
    ::close(ready[1]);
    throw std::runtime_error(fmt::format("{} victim: fork: {}", scenario, strerror(err)));
  }
  if (pid == 0) {
    if (setup) setup();
    // Its own session: the trial's session leader lives outside the trial's pid
    // namespace, where CRIU refuses it ("A session leader of ... is outside of its pid
    // namespace"), even with --shell-job.
    if (setsid() < 0) _exit(127);
    // stdin comes from the harness's namespace; stdout/stderr are the trial's output.log.
    const int in = ::open("/dev/null", O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0) _exit(127);
    if (ready[1] == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(ready[1], 3) < 0) _exit(127);
    // Only 0-3: an external engine refuses to dump fds it cannot resolve.
    close_range(4, ~0U, 0);
    execv(exe.c_str(), argv.data());
    dprintf(2, "%s victim: exec %s: %s\n", scenario.c_str(), exe.c_str(), strerror(errno));
    _exit(127);
  }
  ::close(ready[1]);
  char byte = 0;
  ssize_t n;
  do n = ::read(ready[0], &byte, 1);
  while (n < 0 && errno == EINTR);
  ::close(ready[0]);
  if (n != 1) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    throw std::runtime_error(fmt::format("{} victim pid {} (exec {}) did not start: {} (its stderr is in the trial's "
                                         "output)", scenario, pid, exe, base::describe_wait_status(status)));
  }
  if (!victims::wait_all_sleeping(pid)) {
    victims::kill_child(pid);
    throw std::runtime_error(fmt::format("{} victim pid {} did not go to sleep within 5 s", scenario, pid));
  }
  return pid;
}

}  // namespace flakelab::scenarios
