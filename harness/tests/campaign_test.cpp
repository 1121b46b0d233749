// Campaign files (TOML) and campaign planning.
#include "flakelab/harness/campaign.h"

#include <gtest/gtest.h>

#include "flakelab/harness/campaign_file.h"
#include "flakelab/harness/duration_option.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/topology.h"

namespace flakelab::harness {
namespace {

CampaignSpec parse(const std::string& text) {
  CampaignSpec spec;
  parse_campaign_text(text, "c.toml", spec);
  return spec;
}

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CampaignFile, ReadsDefaultsEntriesAndGrids) {
  CampaignSpec spec = parse(R"(
fresh_namespaces = true  # nightly
trials = 500
placements = ["same-pu", "same-l3"]
max_time = "2m"
jobs = 2
seed = 42
keep_artifacts = "never"
failure = "Saved data"

[[run]]
scenario = "selftest/coin"
params = { p = [0, 0.5, 1] }
expect = "flaky"

[[run]]
scenario = "compel/stack"
params = { check = "legacy", adjacent_writer = true }
trials = 20
placements = "all"
until_failures = 3
timeout = 2.5
)");
  EXPECT_EQ(spec.jobs, 2);
  EXPECT_TRUE(spec.fresh_namespaces);
  EXPECT_EQ(spec.seed, 42u);
  EXPECT_EQ(spec.max_time_s, 120.0);
  EXPECT_EQ(spec.keep_artifacts, KeepArtifacts::kNever);
  EXPECT_EQ(spec.failure_regexes, std::vector<std::string>{"Saved data"});
  ASSERT_EQ(spec.entries.size(), 2u);
  const EntrySpec& coin = spec.entries[0];
  EXPECT_EQ(coin.trials, 500);
  EXPECT_EQ(coin.placements, "same-pu,same-l3");
  EXPECT_EQ(coin.expect, Expect::kFlaky);
  ASSERT_EQ(coin.params.size(), 1u);
  EXPECT_EQ(coin.params[0].second, (std::vector<std::string>{"0", "0.5", "1"}));
  EXPECT_EQ(coin.where, "c.toml:11:1");
  const EntrySpec& stack = spec.entries[1];
  EXPECT_EQ(stack.trials, 20);
  EXPECT_EQ(stack.placements, "all");
  EXPECT_EQ(stack.until_failures, 3);
  EXPECT_EQ(stack.timeout_s, 2.5);
  EXPECT_EQ(stack.expect, Expect::kPass);
  // (toml++ keeps a table's keys sorted)
  EXPECT_EQ(stack.params[0], (std::pair<std::string, std::vector<std::string>>{"adjacent_writer", {"on"}}));
}

TEST(CampaignFile, ErrorsSayLineAndColumn) {
  EXPECT_EQ(error_of("trials = 5\n[[run]]\nscenario = \"selftest/coin\"\nparams = { p = \n"),
            "c.toml:4:16: Error while parsing key-value pair: expected value, saw '\\n'")
      << "a TOML syntax error";
  EXPECT_EQ(error_of("trials = 5\n[[run]]\nscenario = \"selftest/coin\"\n  tirals = 3\n"),
            "c.toml:4:3: unknown key 'tirals' in [[run]] (keys: scenario, command, params, trials, placements, cpus, "
            "expect, noise, jitter, until_failures, timeout)");
  EXPECT_EQ(error_of("trials = \"many\"\n[[run]]\nscenario = \"x\"\n"), "c.toml:1:10: 'trials' must be an integer >= 1");
  EXPECT_EQ(error_of("[[run]]\nscenario = \"x\"\nexpect = \"sometimes\"\n"),
            "c.toml:3:10: 'expect' must be \"pass\" or \"flaky\", not \"sometimes\"");
  EXPECT_EQ(error_of("[[run]]\nparams = { p = 1 }\n"), "c.toml:1:1: [[run]] without 'scenario'");
  EXPECT_EQ(error_of("trials = 3\n"), "c.toml: no [[run]] entry (each names a scenario)");
  EXPECT_EQ(error_of("max_time = \"soon\"\n[[run]]\nscenario = \"x\"\n"),
            "c.toml:1:12: max_time 'soon': 'soon': no number (a duration is a number and a unit: ns, us, ms, s, m or "
            "h, e.g. 500us, 2.5s)");
  EXPECT_EQ(error_of("bogus = 1\n[[run]]\nscenario = \"x\"\n").rfind("c.toml:1:1: unknown key 'bogus'", 0), 0u);
}

TEST(CampaignFile, TheCiCampaignParsesAndPlans) {
  CampaignSpec spec;
  load_campaign_file(FLAKELAB_SOURCE_DIR "/ci/campaign.toml", spec);
  ASSERT_GE(spec.entries.size(), 5u);
  Topology topology;
  const CampaignPlan plan = plan_campaign(spec, topology);
  EXPECT_FALSE(plan.cells.empty());
  EXPECT_EQ(plan.campaign_hash.size(), 16u);
}

TEST(CampaignPlan, ExpandsGridsAndPlacementsIntoCells) {
  Topology t = Topology::synthetic(synthetic_machines::kThisProjectVm);
  CampaignSpec spec = parse(R"(
[[run]]
scenario = "selftest/coin"
params = { p = [0.1, 0.2] }
placements = "all"
jitter = "250us"
)");
  spec.entries[0].jitter = "";  // coin has no jitter points
  const CampaignPlan plan = plan_campaign(spec, t);
  EXPECT_TRUE(plan.simulated);
  ASSERT_EQ(plan.cells.size(), 8u);  // 2 values x 4 offered placements
  EXPECT_EQ(plan.skipped.size(), 8u);
  EXPECT_EQ(plan.cells[0].params_text, "p=0.1");
  EXPECT_EQ(plan.cells[0].placement.name, "same-pu");
  EXPECT_EQ(plan.cells[4].params_text, "p=0.2");
  EXPECT_EQ(plan.total_trials(), 800);
  const std::string text = format_plan(plan);
  EXPECT_NE(text.find("SIMULATED"), std::string::npos) << text;
  EXPECT_NE(text.find("skipped: selftest/coin  cross-numa: this machine has 1 NUMA node"), std::string::npos) << text;
}

TEST(CampaignPlan, AnExplicitPlacementThisMachineLacksIsAnError) {
  Topology t = Topology::synthetic(synthetic_machines::kThisProjectVm);
  CampaignSpec spec;
  EntrySpec entry;
  entry.scenario = "selftest/noop";
  entry.placements = "same-pu,cross-numa";
  spec.entries.push_back(entry);
  try {
    plan_campaign(spec, t);
    ADD_FAILURE() << "planned cross-numa on a one-node machine";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("placement cross-numa is not possible on synthetic"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("this machine has 1 NUMA node"), std::string::npos) << e.what();
  }
}

TEST(CampaignPlan, RejectsBadInputBeforeRunning) {
  Topology t = Topology::synthetic(synthetic_machines::kThisProjectVm);
  auto error = [&](auto mutate) -> std::string {
    CampaignSpec spec;
    EntrySpec entry;
    entry.scenario = "compel/stack";
    spec.entries.push_back(entry);
    mutate(spec);
    try {
      plan_campaign(spec, t);
    } catch (const UsageError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_NE(error([](CampaignSpec& s) { s.entries[0].scenario = "nope"; }).find("unknown scenario 'nope'"),
            std::string::npos);
  EXPECT_NE(error([](CampaignSpec& s) { s.entries[0].params = {{"check", {"sloppy"}}}; })
                .find("accepts check = fixed | legacy"),
            std::string::npos);
  EXPECT_NE(error([](CampaignSpec& s) { s.failure_regexes = {"("}; }).find("--failure '(': not a valid regular"),
            std::string::npos);
  EXPECT_NE(error([](CampaignSpec& s) { s.entries[0].jitter = "before_lunch=5us"; })
                .find("has no jitter point 'before_lunch' (it has: before_seize, between_rpcs, before_check)"),
            std::string::npos);
  EXPECT_NE(error([](CampaignSpec& s) { s.entries[0].placements = "cross-numa"; }).find("not possible"),
            std::string::npos);
  EXPECT_NE(error([](CampaignSpec& s) { s.entries[0].until_failures = 0; }).find("--until-failures 0"),
            std::string::npos);
  EXPECT_EQ(error([](CampaignSpec& s) { s.entries[0].jitter = "between_rpcs=2ms"; }), "(accepted)");
}

TEST(CampaignPlan, JitterIsPartOfTheCellsParameters) {
  Topology t = Topology::synthetic(synthetic_machines::kThisProjectVm);
  CampaignSpec spec;
  EntrySpec entry;
  entry.scenario = "compel/infect";
  entry.jitter = "300us";
  spec.entries.push_back(entry);
  const CampaignPlan plan = plan_campaign(spec, t);
  EXPECT_EQ(plan.cells[0].params_text, "jitter=before_cure:300us;before_seize:300us;between_rpcs:300us");
}

TEST(CampaignPlan, DurationsParse) {
  EXPECT_EQ(parse_seconds_arg("--max-time", "90s"), 90);
  EXPECT_EQ(parse_seconds_arg("--max-time", "2.5m"), 150);
  EXPECT_EQ(parse_seconds_arg("--max-time", "1h"), 3600);
  EXPECT_THROW(parse_seconds_arg("--max-time", "90"), UsageError);  // a bare number's unit would be a guess
  EXPECT_THROW(parse_seconds_arg("--max-time", "-1s"), UsageError);
  EXPECT_THROW(parse_seconds_arg("--max-time", "m"), UsageError);
  EXPECT_THROW(parse_seconds_arg("--max-time", "5d"), UsageError);
  try {
    parse_seconds_arg("--max-time", "90");
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--max-time '90': '90': no unit (", 0), 0u) << e.what();
  }
}

TEST(CampaignFile, CmdTakesItsCommandAsAnArgvArray) {
  CampaignSpec spec;
  parse_campaign_text("[[run]]\nscenario = \"cmd\"\ncommand = [\"sh\", \"-c\", \"exit 0\"]\n", "c.toml", spec);
  ASSERT_EQ(spec.entries.size(), 1u);
  ASSERT_EQ(spec.entries[0].params.size(), 1u);
  EXPECT_EQ(spec.entries[0].params[0].first, "command");
  EXPECT_EQ(spec.entries[0].params[0].second, std::vector<std::string>{"sh -c 'exit 0'"});
  EXPECT_EQ(error_of("[[run]]\nscenario = \"selftest/noop\"\ncommand = [\"true\"]\n"),
            "c.toml:1:1: 'command' is the command of scenario \"cmd\", not of selftest/noop");
}

}  // namespace
}  // namespace flakelab::harness
