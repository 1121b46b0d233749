// The cr/* scenarios run in-process trial after trial (without the harness's
// namespaces): every engine victim survives dump/kill/restore, through memory and
// through image directories, and a damaged victim is reported by what was damaged; a
// failing trial keeps its images.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "../cr/cr_victims.h"
#include "flakelab/base/temp_dir.h"
#include "flakelab/engine/image.h"
#include "flakelab/scenarios/scenario.h"

using namespace flakelab::scenarios;

namespace {

TrialContext context_for(const Scenario& s, int64_t index, const std::map<std::string, std::string>& overrides = {}) {
  TrialContext ctx;
  ctx.seed = 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(index + 1);
  ctx.index = index;
  for (const ParamSpec& p : s.params()) ctx.params[p.name] = p.default_value;
  for (const auto& [k, v] : overrides) ctx.params[k] = v;
  return ctx;
}

void expect_passes(const std::string& name, int n, const std::map<std::string, std::string>& params = {}) {
  Scenario* s = find_scenario(name);
  ASSERT_NE(s, nullptr) << name;
  for (int i = 0; i < n; ++i) {
    TrialContext ctx = context_for(*s, i, params);
    TrialResult r = s->run(ctx);
    ASSERT_EQ(r.verdict, Verdict::kPass) << name << " trial " << i << ": " << r.message;
  }
}

class CrScenario : public ::testing::TestWithParam<std::string> {};

TEST_P(CrScenario, PassesTenTimesInARow) { expect_passes("cr/" + GetParam(), 10); }

TEST_P(CrScenario, PassesThreeCyclesThroughImageDirectories) {
  expect_passes("cr/" + GetParam(), 2, {{"cycles", "3"}, {"images", "dir"}});
}

INSTANTIATE_TEST_SUITE_P(EveryVictim, CrScenario,
                         ::testing::Values("anon-fds", "attrs", "fifos", "files", "inet-sockets", "memory", "netlink-sockets", "pipes", "sessions",
                                           "shared-files", "shared-offset", "shmem", "signals", "syscalls", "threads",
                                           "tree", "unlinked", "zombies"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

TEST(CrScenarios, OneScenarioPerEngineVictim) {
  for (const auto& v : cr::cr_victims()) EXPECT_NE(find_scenario("cr/" + v.name), nullptr) << v.name;
}

TEST(CrScenarios, DamageIsNamedBitByBit) {
  const cr::CrVictim* threads = nullptr;
  for (const auto& v : cr::cr_victims())
    if (v.name == "threads") threads = &v;
  ASSERT_NE(threads, nullptr);
  EXPECT_EQ(cr::describe_damage(*threads, 2 | 8), "registers of another thread, thread-local storage");
  EXPECT_EQ(cr::describe_damage(*threads, 0x40), "bit 0x40");
}

TEST(CrScenarios, BadParametersAreErrorsNotPasses) {
  Scenario* s = find_scenario("cr/threads");
  ASSERT_NE(s, nullptr);
  TrialContext ctx = context_for(*s, 0, {{"cycles", "0"}});
  EXPECT_EQ(s->run(ctx).verdict, Verdict::kError);
  TrialContext many = context_for(*s, 0, {{"threads", "500"}});
  TrialResult r = s->run(many);
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_NE(r.message.find("threads=500"), std::string::npos) << r.message;
}

}  // namespace

// A failing trial keeps the image it dumped last in images/ of its directory, where
// `flakelab show -D DIR/images` reads it (engine::read_image_dir).
TEST(CrScenarios, AFailingTrialKeepsItsImages) {
  Scenario* s = find_scenario("cr/memory");
  ASSERT_NE(s, nullptr);
  const flakelab::base::TempDir dir("", "flakelab-cr-keep-");
  TrialContext ctx = context_for(*s, 0);
  ctx.temp_dir = dir.path();
  pid_t victim = -1;
  ctx.record_binding = [&victim](Role role, pid_t pid) {
    if (role == Role::kVictim) victim = pid;
  };
  // The restored victim dies before its check: the trial fails after a dump.
  ctx.jitter_point = [&victim](std::string_view point) {
    if (point == "before_check" && victim > 0) ::kill(victim, SIGKILL);
  };
  const TrialResult result = s->run(ctx);
  ASSERT_EQ(result.verdict, Verdict::kFail) << result.message;
  EXPECT_NE(result.message.find("killed by signal 9"), std::string::npos) << result.message;
  const flakelab::engine::Image image = flakelab::engine::read_image_dir(dir.path() + "/images");
  EXPECT_FALSE(image.processes.empty());
  // And `flakelab show` reads them.
  const std::string show = std::string(FLAKELAB_BIN) + " show -D " + dir.path() + "/images > " + dir.path() +
                           "/show.txt 2>&1";
  EXPECT_EQ(std::system(show.c_str()), 0) << show;
}

// A passing trial leaves no images behind.
TEST(CrScenarios, APassingTrialKeepsNoImages) {
  Scenario* s = find_scenario("cr/memory");
  ASSERT_NE(s, nullptr);
  const flakelab::base::TempDir dir("", "flakelab-cr-keep-");
  TrialContext ctx = context_for(*s, 0);
  ctx.temp_dir = dir.path();
  const TrialResult result = s->run(ctx);
  ASSERT_EQ(result.verdict, Verdict::kPass) << result.message;
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/images"));
}
