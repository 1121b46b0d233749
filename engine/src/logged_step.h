// One step of a dump or restore, timed and logged at debug level (-v4) when it ends:
// "dump pid 42: memory: 1.234 ms". When the logger is absent or below debug nothing is
// read, formatted or written: the step costs one test of a pointer.
#pragma once

#include <sys/types.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>

namespace flakelab::engine {

class LoggedStep {
 public:
  // `operation` ("dump", "restore") and `step` must outlive the object (literals).
  LoggedStep(spdlog::logger* log, const char* operation, pid_t pid, const char* step)
      : log_(log && log->should_log(spdlog::level::debug) ? log : nullptr),
        operation_(operation),
        step_(step),
        pid_(pid) {
    if (log_) start_ = std::chrono::steady_clock::now();
  }
  ~LoggedStep() {
    if (!log_) return;
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
    // A step left by an exception says so: the log then shows where a failure happened.
    log_->debug("{} pid {}: {}: {:.3f} ms{}", operation_, pid_, step_, ms,
                std::uncaught_exceptions() > exceptions_ ? " (failed)" : "");
  }
  LoggedStep(const LoggedStep&) = delete;
  LoggedStep& operator=(const LoggedStep&) = delete;

 private:
  spdlog::logger* log_;
  const char* operation_;
  const char* step_;
  pid_t pid_;
  int exceptions_ = std::uncaught_exceptions();
  std::chrono::steady_clock::time_point start_{};
};

}  // namespace flakelab::engine
