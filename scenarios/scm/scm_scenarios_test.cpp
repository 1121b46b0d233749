// The scm* scenarios through their Scenario interface, as the harness runs them.
#include <gtest/gtest.h>

#include <regex>

#include "flakelab/scenarios/scenario.h"
#include "flakelab/scenarios/scm.h"

using namespace flakelab::scenarios;

namespace {

TrialResult run(const std::string& name, std::map<std::string, std::string> overrides = {}, int64_t index = 0) {
  Scenario* s = find_scenario(name);
  EXPECT_NE(s, nullptr) << name;
  TrialContext ctx;
  ctx.index = index;
  for (const auto& p : s->params()) ctx.params[p.name] = p.default_value;
  for (auto& [k, v] : overrides) ctx.params[k] = v;
  return s->run(ctx);
}

}  // namespace

TEST(ScmScenarios, AllPassWithTheDefaultPolicy) {
  for (const char* name : {"scm06", "scm_ring", "scm_selfloop"})
    for (int i = 0; i < 20; ++i) {
      TrialResult r = run(name, {}, i);
      EXPECT_EQ(r.verdict, Verdict::kPass) << name << " trial " << i << ": " << r.message;
    }
}

TEST(ScmScenarios, Scm06WithoutThePolicyFailsWithTheBindError) {
  const std::regex bind_error(R"(unix: Can't bind id 0x[0-9a-f]+ ino [0-9]+ addr : Address already in use)");
  int failures = 0;
  for (int i = 0; i < 50; ++i) {
    TrialResult r = run("scm06", {{"unix_gc_wait", "0"}, {"restore_delay_us", "0"}}, i);
    if (r.verdict == Verdict::kFail) {
      ++failures;
      EXPECT_TRUE(std::regex_match(r.message, bind_error)) << r.message;
    } else {
      EXPECT_EQ(r.verdict, Verdict::kPass) << r.message;
    }
  }
  EXPECT_GE(failures, 1);
}

TEST(ScmScenarios, WaitedTimeIsReportedAndParamsAreChecked) {
  EXPECT_EQ(run("scm06", {}, 1).verdict, Verdict::kPass);
  EXPECT_GT(scm::last_trial_times().unix_gc_waited.count(), 0);
  // The delay is slept and reported (whether the collector ran by then depends on
  // what else releases unix sockets meanwhile: the failure-rate curve).
  EXPECT_NE(run("scm06", {{"unix_gc_wait", "0"}, {"restore_delay_us", "20000"}}, 2).verdict, Verdict::kError);
  EXPECT_GE(scm::last_trial_times().restore_delay.count(), 20000000);
  EXPECT_EQ(run("scm06", {{"unix_gc_wait", "soon"}}).verdict, Verdict::kError);
  EXPECT_EQ(run("scm06", {{"restore_delay_us", "-5"}}).verdict, Verdict::kError);
}
