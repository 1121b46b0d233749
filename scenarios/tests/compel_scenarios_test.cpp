// The compel/* scenarios, run in-process trial after trial as the harness would
// (without its namespaces): each passes 50 times in a row, and compel/stack with the
// legacy check and an adjacent writer reproduces the historical flake while the
// fixed check never fails.
#include <gtest/gtest.h>

#include <map>
#include <string>

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

struct Tally {
  int pass = 0, fail = 0, error = 0;
  std::map<std::string, int> messages;
};

Tally run_trials(const std::string& name, int n, const std::map<std::string, std::string>& params = {}) {
  Scenario* s = find_scenario(name);
  EXPECT_NE(s, nullptr) << name;
  Tally t;
  if (!s) return t;
  for (int i = 0; i < n; ++i) {
    TrialContext ctx = context_for(*s, i, params);
    TrialResult r = s->run(ctx);
    if (r.verdict == Verdict::kPass) ++t.pass;
    if (r.verdict == Verdict::kFail) ++t.fail;
    if (r.verdict == Verdict::kError) ++t.error;
    if (r.verdict != Verdict::kPass) t.messages[r.message]++;
  }
  return t;
}

std::string describe(const Tally& t) {
  std::string out;
  for (const auto& [m, c] : t.messages) out += std::to_string(c) + "x " + m + "\n";
  return out;
}

class CompelScenarioPasses : public ::testing::TestWithParam<std::string> {};

TEST_P(CompelScenarioPasses, FiftyTimesInARow) {
  Tally t = run_trials(GetParam(), 50);
  EXPECT_EQ(t.pass, 50) << describe(t);
}

INSTANTIATE_TEST_SUITE_P(All, CompelScenarioPasses,
                         ::testing::Values("compel/infect", "compel/rsys", "compel/fdspy", "compel/stack"),
                         [](const auto& info) {
                           std::string n = info.param.substr(info.param.find('/') + 1);
                           return n;
                         });

TEST(CompelStack, FixedCheckPassesFiftyTimesWithAdjacentWriter) {
  Tally t = run_trials("compel/stack", 50, {{"adjacent_writer", "on"}});
  EXPECT_EQ(t.pass, 50) << describe(t);
}

TEST(CompelStack, LegacyCheckWithoutWriterNeverFails) {
  Tally t = run_trials("compel/stack", 50, {{"check", "legacy"}});
  EXPECT_EQ(t.pass, 50) << describe(t);
}

TEST(CompelStack, LegacyCheckWithAdjacentWriterReproducesTheFlake) {
  Tally t = run_trials("compel/stack", 500, {{"check", "legacy"}, {"adjacent_writer", "on"}});
  EXPECT_GE(t.fail, 1) << "the legacy check never failed in 500 trials";
  EXPECT_EQ(t.error, 0) << describe(t);
  for (const auto& [message, count] : t.messages) {
    EXPECT_NE(message.find("Saved data unexpectedly modified"), std::string::npos) << message;
    EXPECT_NE(message.find("Trimmed message received (16/0)"), std::string::npos) << message;
  }
  std::printf("legacy check failed %d of 500 trials\n", t.fail);
}

TEST(CompelStack, RejectsBadParameters) {
  Scenario* s = find_scenario("compel/stack");
  ASSERT_NE(s, nullptr);
  TrialContext ctx = context_for(*s, 0, {{"writer_period_us", "soon"}});
  EXPECT_THROW(s->run(ctx), std::invalid_argument);
}

}  // namespace
