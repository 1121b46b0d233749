// The engine's log: CRIU's verbosity levels, the line format, and steps that log their
// duration only at -v4.
#include "flakelab/engine/log.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <regex>
#include <sstream>
#include <stdexcept>

#include "logged_step.h"

namespace flakelab::engine {
namespace {

TEST(EngineLog, VerbosityIsCriusScale) {
  EXPECT_EQ(log_level_for_verbosity(0), spdlog::level::off);
  EXPECT_EQ(log_level_for_verbosity(1), spdlog::level::err);
  EXPECT_EQ(log_level_for_verbosity(2), spdlog::level::warn);
  EXPECT_EQ(log_level_for_verbosity(3), spdlog::level::info);
  EXPECT_EQ(log_level_for_verbosity(4), spdlog::level::debug);
  EXPECT_THROW(log_level_for_verbosity(5), std::invalid_argument);
  EXPECT_THROW(log_level_for_verbosity(-1), std::invalid_argument);
}

TEST(EngineLog, StepsAreLoggedWithTheirDurationAtV4) {
  std::ostringstream out;
  auto log = make_engine_log(out, 4);
  { LoggedStep step(log.get(), "dump", 42, "freeze"); }
  log->flush();
  EXPECT_TRUE(std::regex_match(out.str(), std::regex(R"(\(\d+\.\d{6}\) debug: dump pid 42: freeze: \d+\.\d{3} ms\n)")))
      << out.str();
}

TEST(EngineLog, StepsAreSilentBelowV4AndWithoutALogger) {
  std::ostringstream out;
  auto log = make_engine_log(out, 3);
  { LoggedStep step(log.get(), "restore", 42, "pages"); }
  log->info("restored pid {}", 42);
  { LoggedStep step(nullptr, "restore", 42, "pages"); }
  log->flush();
  EXPECT_TRUE(std::regex_match(out.str(), std::regex(R"(\(\d+\.\d{6}\) info: restored pid 42\n)"))) << out.str();
}

TEST(EngineLog, AStepLeftByAnExceptionSaysSo) {
  std::ostringstream out;
  auto log = make_engine_log(out, 4);
  try {
    LoggedStep step(log.get(), "restore", 7, "threads");
    throw std::runtime_error("clone3 failed");
  } catch (const std::runtime_error&) {
  }
  { LoggedStep step(log.get(), "restore", 7, "release"); }
  log->flush();
  const std::string text = out.str();
  EXPECT_NE(text.find("restore pid 7: threads: "), std::string::npos) << text;
  EXPECT_NE(text.find(" ms (failed)\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("release: ", 0), text.rfind("release: ")) << text;
  EXPECT_EQ(text.find("(failed)", text.find("release: ")), std::string::npos) << text;
}

}  // namespace
}  // namespace flakelab::engine
