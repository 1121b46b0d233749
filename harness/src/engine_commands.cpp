#include "flakelab/harness/engine_commands.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "flakelab/engine/dump.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"
#include "flakelab/engine/restore.h"
#include "flakelab/engine/show.h"
#include "flakelab/harness/duration_option.h"
#include "flakelab/harness/error.h"

namespace flakelab::harness {
namespace {

constexpr int kEngineFailed = 1;

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The engine verbs' log: stderr, or a file (relative to the image directory).
std::shared_ptr<spdlog::logger> make_log(const EngineLogOptions& options, const std::string& image_dir) {
  static constexpr spdlog::level::level_enum kLevels[] = {spdlog::level::off, spdlog::level::err,
                                                         spdlog::level::warn, spdlog::level::info,
                                                         spdlog::level::debug};
  if (options.verbosity < 0 || options.verbosity > 4)
    throw UsageError(fmt::format("-v {}: the log level is 0 (nothing) to 4 (debug)", options.verbosity));
  std::shared_ptr<spdlog::logger> log;
  if (options.log_file.empty()) {
    log = std::make_shared<spdlog::logger>("engine", std::make_shared<spdlog::sinks::stderr_sink_st>());
  } else {
    std::filesystem::path path = options.log_file;
    if (path.is_relative()) path = std::filesystem::path(image_dir) / path;
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    try {
      log = std::make_shared<spdlog::logger>(
          "engine", std::make_shared<spdlog::sinks::basic_file_sink_st>(path.string(), /*truncate=*/true));
    } catch (const spdlog::spdlog_ex& e) {
      throw UsageError(fmt::format("-o {}: cannot open the log file: {}", path.string(), e.what()));
    }
  }
  log->set_pattern("(%S.%f) %^%l%$: %v");
  log->set_level(kLevels[options.verbosity]);
  log->flush_on(spdlog::level::debug);
  return log;
}

// Reports an engine failure on stderr (always) and in the log.
// The engine's messages already start with the operation ("dump: pid 12 ...").
// Always on stderr; in the log too when it is a file.
int engine_failed(spdlog::logger& log, bool log_is_file, const std::string& what) {
  if (log_is_file) log.error("{}", what);
  std::fflush(stdout);
  fmt::print(stderr, "flakelab: {}\n", what);
  return kEngineFailed;
}

void write_pidfile(const std::string& path, pid_t pid) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw HarnessError(errno_text("open pidfile " + tmp, errno));
  std::string text = fmt::format("{}\n", pid);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    ::unlink(tmp.c_str());
    throw HarnessError(errno_text("write pidfile " + path, err));
  }
}

// The root process; for a tree, how many processes it has besides.
std::string describe(const engine::Image& image) {
  const auto& p = image.root().process;
  std::string out = fmt::format("{} thread(s), {} mapping(s), {} page run(s) = {} KiB, {} fd(s)", p.threads_size(),
                                p.vmas_size(), p.pages_size(), image.root().pages.size() / 1024, p.fds_size());
  if (image.tree.processes_size() > 1)
    out += fmt::format("; a tree of {} processes ({} live descendants)", image.tree.processes_size(),
                       image.processes.size() - 1);
  return out;
}

}  // namespace

int dump_command(const DumpCommand& command) {
  auto log = make_log(command.log, command.dir);
  if (command.pid <= 0) throw UsageError(fmt::format("-t {}: not a process id", command.pid));
  try {
    auto start = Clock::now();
    // The image goes into the directory as it is read: pages never sit in our memory.
    engine::Image image = engine::dump_process_to_dir(
        command.pid, command.dir, {.leave_running = command.leave_running, .ext_unix_sk = command.ext_unix_sk});
    log->info("dumped pid {} into {} in {:.2f} ms: {}; pid {} {}", command.pid, command.dir, ms_since(start),
              describe(image), command.pid, command.leave_running ? "left running" : "killed");
    // Built only when it will be logged: the text costs more than a small dump.
    if (log->should_log(spdlog::level::debug)) log->debug("image:\n{}", engine::show_image_text(image));
    return kExitOk;
  } catch (const engine::EngineError& e) {
    return engine_failed(*log, !command.log.log_file.empty(), e.what());
  }
}

int restore_command(const RestoreCommand& command) {
  auto log = make_log(command.log, command.dir);
  pid_t pid = -1;
  engine::RestoreOptions options;
  if (!command.unix_gc_wait.empty()) {
    const std::string where = fmt::format("--unix-gc-wait '{}'", command.unix_gc_wait);
    const std::chrono::nanoseconds wait = parse_duration_arg(where, command.unix_gc_wait);
    if (wait > std::chrono::hours(1)) throw UsageError(where + ": at most 1h");
    options.unix_gc_wait = std::chrono::ceil<std::chrono::microseconds>(wait);
  }
  engine::RestoreStats stats;
  try {
    auto start = Clock::now();
    // Mapped, not read; the pages are checked as restore copies them.
    engine::Image image = engine::read_image_dir(command.dir, engine::PagesCheck::kByRestore);
    log->info("read {} in {:.2f} ms: {}", command.dir, ms_since(start), describe(image));
    auto restore_start = Clock::now();
    pid = engine::restore_process(image, options, &stats);
    log->info("restored pid {} in {:.2f} ms", pid, ms_since(restore_start));
    if (stats.unix_gc_retries > 0)
      log->info("unix-gc-wait: waited {:.3f} ms ({} binds retried) for names held by orphaned sockets",
                std::chrono::duration<double, std::milli>(stats.unix_gc_waited).count(), stats.unix_gc_retries);
  } catch (const engine::EngineError& e) {
    std::string what = e.what();
    return engine_failed(*log, !command.log.log_file.empty(), what.rfind("restore", 0) == 0 ? what : "restore: " + what);
  }
  if (!command.pidfile.empty()) write_pidfile(command.pidfile, pid);
  if (command.detached) return kExitOk;
  // Not detached: we stay its parent and hand back its exit status, like CRIU.
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, 0);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) throw HarnessError(errno_text(fmt::format("waitpid restored pid {}", pid), errno));
  }
  if (WIFSIGNALED(status)) {
    log->info("restored pid {} was killed by signal {}", pid, WTERMSIG(status));
    return 128 + WTERMSIG(status);
  }
  log->info("restored pid {} exited with status {}", pid, WEXITSTATUS(status));
  return WEXITSTATUS(status);
}

int show_command(const ShowCommand& command) {
  try {
    engine::Image image = engine::read_image_dir(command.dir);
    fmt::print("{}", command.json ? engine::show_image_json(image) : engine::show_image_text(image));
    return kExitOk;
  } catch (const engine::EngineError& e) {
    std::fflush(stdout);
    fmt::print(stderr, "flakelab: show: {}\n", e.what());
    return kEngineFailed;
  }
}

void add_engine_log_options(CLI::App& verb, EngineLogOptions& log) {
  verb.add_option("-v,--verbosity", log.verbosity, "log level: 0 nothing, 1 errors, 2 warnings, 3 info, 4 debug")
      ->capture_default_str();
  verb.add_option("-o,--log-file", log.log_file, "log to FILE (relative to the image directory) instead of stderr");
}

}  // namespace flakelab::harness
