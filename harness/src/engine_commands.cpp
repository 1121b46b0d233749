#include "flakelab/harness/engine_commands.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <utility>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "flakelab/base/unique_fd.h"
#include "flakelab/engine/dump.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"
#include "flakelab/engine/log.h"
#include "flakelab/engine/restore.h"
#include "flakelab/engine/show.h"
#include "flakelab/harness/duration_option.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/integer_option.h"

namespace flakelab::harness {
namespace {

constexpr int kEngineFailed = 1;

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The engine verbs' log: stderr, or a file (relative to the image directory).
std::shared_ptr<spdlog::logger> make_log(const EngineLogOptions& options, const std::string& image_dir) {
  spdlog::level::level_enum level;
  try {
    level = engine::log_level_for_verbosity(options.verbosity);
  } catch (const std::invalid_argument&) {
    throw UsageError(fmt::format("-v {}: the log level is 0 (nothing) to 4 (debug)", options.verbosity));
  }
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
  engine::use_engine_log_format(*log);
  log->set_level(level);
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

// --pidfile FILE, made in two steps so that a path we cannot write fails before
// anything is restored: open() creates FILE.tmp, commit() writes the pid and
// renames it to FILE. An uncommitted FILE.tmp is removed.
class PidFile {
 public:
  explicit PidFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {
    fd_.reset(::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644));
    if (!fd_) throw HarnessError(errno_text("open pidfile " + tmp_, errno));
    struct stat st{};
    if (::fstat(fd_.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      fd_.reset();
      throw HarnessError("pidfile " + tmp_ + ": not a regular file");
    }
  }
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;
  ~PidFile() {
    if (!committed_) ::unlink(tmp_.c_str());
  }

  void commit(pid_t pid) {
    std::string text = fmt::format("{}\n", pid);
    if (::write(fd_.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
      throw HarnessError(errno_text("write pidfile " + tmp_, errno));
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) throw HarnessError(errno_text("rename pidfile " + tmp_ + " to " + path_, errno));
    committed_ = true;
    fd_.reset();
  }

 private:
  std::string path_;
  std::string tmp_;
  base::UniqueFd fd_;
  bool committed_ = false;
};

// Undoes a restore whose result cannot be reported: every process of the tree
// (they carry the image's pids), then the root, which is our child, is reaped.
void kill_restored_tree(const engine::Image& image) {
  const pid_t root = static_cast<pid_t>(image.root().process.pid());
  for (const auto& rec : image.tree.processes())
    if (!rec.zombie()) ::kill(static_cast<pid_t>(rec.pid()), SIGKILL);
  ::kill(root, SIGKILL);
  int status = 0;
  while (::waitpid(root, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

int dump_command(const DumpCommand& command) {
  auto log = make_log(command.log, command.dir);
  if (command.pid <= 0) throw UsageError(fmt::format("-t {}: not a process id", command.pid));
  try {
    // The image goes into the directory as it is read: pages never sit in our memory.
    // The engine logs what it did and, at -v4, each step with its duration.
    engine::Image image = engine::dump_process_to_dir(
        command.pid, command.dir,
        {.leave_running = command.leave_running, .ext_unix_sk = command.ext_unix_sk, .log = log.get()});
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
  options.log = log.get();
  if (!command.unix_gc_wait.empty()) {
    const std::string where = fmt::format("--unix-gc-wait '{}'", command.unix_gc_wait);
    const std::chrono::nanoseconds wait = parse_duration_arg(where, command.unix_gc_wait);
    if (wait > std::chrono::hours(1)) throw UsageError(where + ": at most 1h");
    options.unix_gc_wait = std::chrono::ceil<std::chrono::microseconds>(wait);
  }
  engine::RestoreStats stats;
  std::optional<PidFile> pidfile;
  if (!command.pidfile.empty()) pidfile.emplace(command.pidfile);  // before anything exists that it must name
  std::optional<engine::Image> image;
  try {
    auto start = Clock::now();
    // Mapped, not read; the pages are checked as restore copies them.
    image.emplace(engine::read_image_dir(command.dir, engine::PagesCheck::kByRestore));
    log->info("read {} in {:.2f} ms", command.dir, ms_since(start));
    pid = engine::restore_process(*image, options, &stats);
    if (stats.unix_gc_retries > 0)
      log->info("unix-gc-wait: waited {:.3f} ms ({} binds retried) for names held by orphaned sockets",
                std::chrono::duration<double, std::milli>(stats.unix_gc_waited).count(), stats.unix_gc_retries);
  } catch (const engine::EngineError& e) {
    std::string what = e.what();
    return engine_failed(*log, !command.log.log_file.empty(), what.rfind("restore", 0) == 0 ? what : "restore: " + what);
  }
  if (pidfile) {
    try {
      pidfile->commit(pid);
    } catch (const HarnessError&) {
      kill_restored_tree(*image);  // nobody could find it: it must not run on unnamed
      throw;
    }
  }
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
  add_integer_option(verb, "-v,--verbosity", log.verbosity, "log level: 0 nothing, 1 errors, 2 warnings, 3 info, 4 debug")
      ->capture_default_str();
  verb.add_option("-o,--log-file", log.log_file, "log to FILE (relative to the image directory) instead of stderr");
}

}  // namespace flakelab::harness
