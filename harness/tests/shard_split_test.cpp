// Sharding a campaign: the shards' trial ranges add up to the unsharded campaign exactly,
// whatever the machine offers, and the nightly campaign covers what it must.
#include "flakelab/harness/shard_split.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>

#include "flakelab/harness/campaign.h"
#include "flakelab/harness/campaign_file.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/topology.h"
#include "flakelab/scenarios/scenario.h"

namespace flakelab::harness {
namespace {

TEST(ShardRange, ShardsPartitionEveryCell) {
  for (int64_t trials : {0, 1, 2, 3, 7, 100, 1001}) {
    for (int count : {1, 2, 3, 8}) {
      for (int ordinal : {0, 1, 5}) {
        std::vector<int> owner(static_cast<size_t>(trials), 0);
        for (int index = 1; index <= count; ++index) {
          const TrialRange r = shard_range(trials, ordinal, index, count);
          ASSERT_GE(r.count, trials / count);
          ASSERT_LE(r.count, trials / count + 1);
          for (int64_t i = r.first; i < r.first + r.count; ++i) ++owner[static_cast<size_t>(i)];
        }
        for (int64_t i = 0; i < trials; ++i) ASSERT_EQ(owner[static_cast<size_t>(i)], 1) << trials << " " << count << " " << i;
      }
    }
  }
  // The rotation spreads one-trial cells over the shards.
  std::set<int> holders;
  for (int ordinal = 0; ordinal < 3; ++ordinal) {
    for (int index = 1; index <= 3; ++index) {
      if (shard_range(1, ordinal, index, 3).count == 1) holders.insert(index);
    }
  }
  EXPECT_EQ(holders.size(), 3u);
  EXPECT_THROW(shard_range(10, 0, 4, 3), std::invalid_argument);
}

TEST(ShardRange, ParsesTheOption) {
  int i = 0, n = 0;
  parse_shard_option("3/8", "--shard", i, n);
  EXPECT_EQ(i, 3);
  EXPECT_EQ(n, 8);
  EXPECT_THROW(parse_shard_option("9/8", "--shard", i, n), UsageError);
  EXPECT_THROW(parse_shard_option("x", "--shard", i, n), UsageError);
}

using TrialKey = std::tuple<std::string, std::string, int64_t>;  // cell label, placement, index

std::set<TrialKey> trials_of(const CampaignPlan& plan) {
  std::set<TrialKey> out;
  for (const PlannedCell& cell : plan.cells) {
    for (int64_t i = cell.first_index; i < cell.first_index + cell.trials; ++i) {
      out.emplace(cell.scenario->name() + " " + cell.params_text, cell.placement.name, i);
    }
  }
  return out;
}

CampaignSpec small_campaign() {
  CampaignSpec spec;
  parse_campaign_text(R"(
seed = 7
[[run]]
scenario = "selftest/coin"
params = { p = [0.1, 0.2] }
placements = "all"
trials = 10
[[run]]
scenario = "selftest/noop"
trials = 1
)",
                      "c.toml", spec);
  return spec;
}

// Same split on a machine with SMT (more placements offered) and on one without: the
// shards of each add up to the unsharded plan of that machine, trial for trial.
TEST(ShardPlan, ShardsAddUpToTheUnshardedPlanOnAnyMachine) {
  for (const char* machine : {synthetic_machines::kThisProjectVm, synthetic_machines::kEpyc4Vcpu}) {
    const Topology topology = Topology::synthetic(machine);
    const CampaignPlan whole = plan_campaign(small_campaign(), topology);
    std::set<TrialKey> together;
    size_t total = 0;
    for (int index = 1; index <= 3; ++index) {
      CampaignSpec spec = small_campaign();
      spec.shard_index = index;
      spec.shard_count = 3;
      const CampaignPlan shard = plan_campaign(spec, topology);
      EXPECT_EQ(shard.shard, std::to_string(index) + "/3");
      EXPECT_EQ(shard.campaign_hash, whole.campaign_hash);
      EXPECT_EQ(shard.seed, whole.seed);
      const std::set<TrialKey> mine = trials_of(shard);
      total += mine.size();
      together.insert(mine.begin(), mine.end());
      for (const PlannedCell& cell : shard.cells) EXPECT_EQ(cell.cell_trials, cell.scenario->name() == "selftest/noop" ? 1 : 10);
    }
    EXPECT_EQ(total, together.size()) << "no trial in two shards";
    EXPECT_EQ(together, trials_of(whole)) << machine;
  }
  // The SMT machine offers more coin placements; the cells both offer are split alike.
  auto shard_on = [](const char* machine) {
    CampaignSpec spec = small_campaign();
    spec.shard_index = 2;
    spec.shard_count = 3;
    return trials_of(plan_campaign(spec, Topology::synthetic(machine)));
  };
  const std::set<TrialKey> vm = shard_on(synthetic_machines::kThisProjectVm);
  const std::set<TrialKey> epyc = shard_on(synthetic_machines::kEpyc4Vcpu);
  for (const TrialKey& key : vm) {
    if (std::get<1>(key) == "same-pu" || std::get<1>(key) == "unpinned") {
      EXPECT_TRUE(epyc.contains(key));
    }
  }
}

TEST(ShardPlan, RefusesUntilFailuresAndEmptyShards) {
  const Topology topology = Topology::synthetic(synthetic_machines::kThisProjectVm);
  CampaignSpec spec = small_campaign();
  spec.entries[0].until_failures = 3;
  spec.shard_index = 1;
  spec.shard_count = 2;
  EXPECT_THROW(plan_campaign(spec, topology), UsageError);
  CampaignSpec one;
  parse_campaign_text("seed = 1\n[[run]]\nscenario = \"selftest/noop\"\ntrials = 1\n", "one.toml", one);
  one.shard_count = 2;
  one.shard_index = 1;
  const bool first_has = [&] {
    try {
      return !plan_campaign(one, topology).cells.empty();
    } catch (const UsageError&) {
      return false;
    }
  }();
  one.shard_index = 2;
  const bool second_has = [&] {
    try {
      return !plan_campaign(one, topology).cells.empty();
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("this shard has no trials"), std::string::npos) << e.what();
      return false;
    }
  }();
  EXPECT_NE(first_has, second_has) << "one trial: exactly one shard runs it, the other says it has none";
}

// ci/nightly.toml: every compel/* and cr/* scenario of the registry, the legacy
// (flaky) and fixed (must pass) stack checks, every placement.
TEST(NightlyCampaign, CoversEveryCompelAndCrScenarioOnEveryPlacement) {
  CampaignSpec spec;
  load_campaign_file(FLAKELAB_SOURCE_DIR "/ci/nightly.toml", spec);
  std::set<std::string> named;
  bool legacy = false, fixed = false;
  for (const EntrySpec& entry : spec.entries) {
    named.insert(entry.scenario);
    EXPECT_EQ(entry.placements, "all") << entry.where;
    if (entry.scenario != "compel/stack") continue;
    for (const auto& [name, values] : entry.params) {
      if (name != "check") continue;
      for (const std::string& v : values) {
        if (v == "legacy") {
          legacy = true;
          EXPECT_EQ(entry.expect, Expect::kFlaky) << entry.where;
        }
        if (v == "fixed") {
          fixed = true;
          EXPECT_EQ(entry.expect, Expect::kPass) << entry.where;
        }
      }
    }
  }
  for (const auto& scenario : scenarios::registry()) {
    const std::string name = scenario->name();
    if (name.rfind("compel/", 0) == 0 || name.rfind("cr/", 0) == 0 || name.rfind("scm06", 0) == 0) {
      EXPECT_TRUE(named.contains(name)) << name << " is missing from ci/nightly.toml";
    }
  }
  EXPECT_TRUE(legacy);
  EXPECT_TRUE(fixed);
  EXPECT_TRUE(spec.seed == std::nullopt) << "the nightly draws a fresh seed each night (passed to every shard)";
  // It plans here and on a 4-vCPU SMT runner (where smt-siblings/same-core are offered too).
  spec.seed = 1;
  const CampaignPlan here = plan_campaign(spec, Topology());
  const CampaignPlan smt = plan_campaign(spec, Topology::synthetic(synthetic_machines::kEpyc4Vcpu));
  EXPECT_GT(smt.cells.size(), here.cells.size());
}

}  // namespace
}  // namespace flakelab::harness
