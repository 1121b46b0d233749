#include "flakelab/engine/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <stdexcept>

namespace flakelab::engine {
namespace {

// "(seconds.micros)" since the logger was made, as CRIU prefixes its log lines.
class SinceStart : public spdlog::custom_flag_formatter {
 public:
  SinceStart() = default;
  explicit SinceStart(std::chrono::steady_clock::time_point start) : start_(start) {}
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start_);
    fmt::format_to(std::back_inserter(dest), "{}.{:06}", us.count() / 1000000, us.count() % 1000000);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<SinceStart>(start_); }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace

spdlog::level::level_enum log_level_for_verbosity(int verbosity) {
  static constexpr spdlog::level::level_enum kLevels[] = {spdlog::level::off, spdlog::level::err, spdlog::level::warn,
                                                         spdlog::level::info, spdlog::level::debug};
  if (verbosity < 0 || verbosity > 4)
    throw std::invalid_argument("log verbosity " + std::to_string(verbosity) + ": expected 0 (nothing) to 4 (debug)");
  return kLevels[verbosity];
}

void use_engine_log_format(spdlog::logger& log) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<SinceStart>('*').set_pattern("(%*) %l: %v");
  log.set_formatter(std::move(formatter));
}

std::shared_ptr<spdlog::logger> make_engine_log(std::ostream& out, int verbosity) {
  auto log = std::make_shared<spdlog::logger>("engine", std::make_shared<spdlog::sinks::ostream_sink_st>(out));
  use_engine_log_format(*log);
  log->set_level(log_level_for_verbosity(verbosity));
  return log;
}

}  // namespace flakelab::engine
