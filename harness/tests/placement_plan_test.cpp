// Placement planning on synthetic machines (hwloc cannot bind on them, so only the plan
// is checked here; binding is tested on this machine in binding_test and cli_test).
#include "flakelab/harness/placement_plan.h"

#include <gtest/gtest.h>

#include <set>

#include "flakelab/harness/error.h"
#include "flakelab/harness/topology.h"

namespace flakelab::harness {
namespace {

using scenarios::Role;

PlacementPlan plan(const Topology& t, PlacementKind kind, int workers = 1, std::string noise = "",
                   bool share = false) {
  PlanRequest request;
  request.kind = kind;
  request.workers = workers;
  request.noise = parse_noise(noise);
  request.share_pus = share;
  return plan_placement(t, request);
}

std::pair<int, int> pair_of(const Placement& p) {
  return {*p.cpu_of(Role::kVictim), *p.cpu_of(Role::kInjector)};
}

TEST(PlacementPlan, NamesRoundTripAndAllSweepsEveryNamedPlacement) {
  for (PlacementKind kind : named_placements()) EXPECT_EQ(placement_kind_from_string(to_string(kind)), kind);
  EXPECT_EQ(parse_placement_list("all").size(), 8u);
  EXPECT_EQ(parse_placement_list("random,same-pu"),
            (std::vector<PlacementKind>{PlacementKind::kRandom, PlacementKind::kSamePu}));
  EXPECT_THROW(parse_placement_list("same-pu,same-pu"), UsageError);
  try {
    parse_placement_list("cross-ccx");
    ADD_FAILURE();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown placement 'cross-ccx' (known: same-pu, smt-siblings"),
              std::string::npos)
        << e.what();
  }
}

TEST(PlacementPlan, ThisProjectsMachineOffersSamePuSameL3UnpinnedRandom) {
  Topology t = Topology::synthetic(synthetic_machines::kThisProjectVm);
  std::set<std::string> offered;
  for (PlacementKind kind : named_placements()) {
    PlacementPlan p = plan(t, kind);
    if (p.offered) offered.insert(p.name);
    else EXPECT_FALSE(p.skip_reason.empty()) << p.name;
  }
  EXPECT_EQ(offered, (std::set<std::string>{"same-pu", "same-l3", "unpinned", "random"}));
  EXPECT_EQ(plan(t, PlacementKind::kSmtSiblings).skip_reason,
            "no core has two usable PUs (SMT is off or absent: 2 cores, 2 PUs)");
  EXPECT_EQ(plan(t, PlacementKind::kCrossL3).skip_reason, "this machine has a single L3 group");
  EXPECT_EQ(plan(t, PlacementKind::kCrossNuma).skip_reason, "this machine has 1 NUMA node");
  EXPECT_EQ(pair_of(plan(t, PlacementKind::kSamePu).workers.at(0)), std::pair(0, 0));
  EXPECT_EQ(pair_of(plan(t, PlacementKind::kSameL3).workers.at(0)), std::pair(0, 1));
  // The writer follows the injector.
  EXPECT_EQ(plan(t, PlacementKind::kSameL3).workers.at(0).cpu_of(Role::kWriter), 1);
  EXPECT_TRUE(plan(t, PlacementKind::kUnpinned).workers.at(0).unpinned());
}

TEST(PlacementPlan, FourVcpuRunnerWithSmt) {
  Topology t = Topology::synthetic(synthetic_machines::kEpyc4Vcpu);
  EXPECT_EQ(pair_of(plan(t, PlacementKind::kSmtSiblings).workers.at(0)), std::pair(0, 2));
  EXPECT_EQ(pair_of(plan(t, PlacementKind::kSameCore).workers.at(0)), std::pair(0, 2));
  EXPECT_EQ(pair_of(plan(t, PlacementKind::kSameL3).workers.at(0)), std::pair(0, 1));
  // Two workers: disjoint PUs.
  PlacementPlan two = plan(t, PlacementKind::kSmtSiblings, 2);
  ASSERT_TRUE(two.offered) << two.skip_reason;
  EXPECT_EQ(pair_of(two.workers[0]), std::pair(0, 2));
  EXPECT_EQ(pair_of(two.workers[1]), std::pair(1, 3));
  PlacementPlan l3 = plan(t, PlacementKind::kSameL3, 2);
  ASSERT_TRUE(l3.offered) << l3.skip_reason;
  EXPECT_EQ(pair_of(l3.workers[1]), std::pair(2, 3));
  // Three workers of a two-PU placement do not fit in four PUs...
  PlacementPlan three = plan(t, PlacementKind::kSmtSiblings, 3);
  EXPECT_FALSE(three.offered);
  EXPECT_NE(three.skip_reason.find("-j 3: this machine has 2 disjoint sets of PUs"), std::string::npos)
      << three.skip_reason;
  // ...unless asked to share.
  EXPECT_TRUE(plan(t, PlacementKind::kSmtSiblings, 3, "", true).offered);
  // Noise on the victim's sibling, with the injector on another core.
  PlacementPlan noisy = plan(t, PlacementKind::kSameL3, 1, "spin@smt-sibling");
  ASSERT_TRUE(noisy.offered) << noisy.skip_reason;
  EXPECT_EQ(noisy.name, "same-l3+noise=spin@smt-sibling");
  EXPECT_EQ(noisy.workers[0].noise(), (std::vector<NoiseThread>{{NoiseKind::kSpin, 2}}));
  EXPECT_EQ(noisy.workers[0].to_string(), "victim=0,injector=1,writer=1,noise=spin:2");
}

TEST(PlacementPlan, DualEpyc7763OffersEverything) {
  Topology t = Topology::synthetic(synthetic_machines::kDualEpyc7763);
  for (PlacementKind kind : named_placements()) EXPECT_TRUE(plan(t, kind).offered) << to_string(kind);
  const auto check = [&](PlacementKind kind, auto same_core, auto same_l3, auto same_numa) {
    PlacementPlan p = plan(t, kind, 8);
    ASSERT_TRUE(p.offered) << p.skip_reason;
    std::set<int> used;
    for (const Placement& w : p.workers) {
      auto [v, i] = pair_of(w);
      EXPECT_EQ(t.pu(v).core == t.pu(i).core, same_core) << to_string(kind) << " " << v << "," << i;
      EXPECT_EQ(t.pu(v).l3 == t.pu(i).l3, same_l3) << to_string(kind) << " " << v << "," << i;
      EXPECT_EQ(t.pu(v).numa == t.pu(i).numa, same_numa) << to_string(kind) << " " << v << "," << i;
      for (int cpu : w.cpus()) EXPECT_TRUE(used.insert(cpu).second) << "workers share CPU " << cpu;
    }
  };
  check(PlacementKind::kSmtSiblings, true, true, true);
  check(PlacementKind::kSameL3, false, true, true);
  check(PlacementKind::kCrossL3, false, false, true);
  check(PlacementKind::kCrossNuma, false, false, false);
  EXPECT_EQ(pair_of(plan(t, PlacementKind::kCrossNuma).workers[0]), std::pair(0, 64));
  // Noise places relative to the victim.
  PlacementPlan noisy = plan(t, PlacementKind::kSamePu, 1, "cache@same-l3,syscall@other-l3,spin@smt-sibling");
  ASSERT_TRUE(noisy.offered) << noisy.skip_reason;
  const auto& noise = noisy.workers[0].noise();
  ASSERT_EQ(noise.size(), 3u);
  EXPECT_EQ(t.pu(noise[0].cpu).l3, t.pu(0).l3);
  EXPECT_NE(t.pu(noise[0].cpu).core, t.pu(0).core);
  EXPECT_NE(t.pu(noise[1].cpu).l3, t.pu(0).l3);
  EXPECT_EQ(noise[2].cpu, 128);
}

TEST(PlacementPlan, NoiseThatCannotBePlacedSkipsWithTheReason) {
  Topology t = Topology::synthetic(synthetic_machines::kThisProjectVm);
  PlacementPlan p = plan(t, PlacementKind::kSamePu, 1, "spin@smt-sibling");
  EXPECT_FALSE(p.offered);
  EXPECT_EQ(p.skip_reason, "--noise spin@smt-sibling: the victim's CPU 0 has no SMT sibling");
  PlacementPlan ok = plan(t, PlacementKind::kSamePu, 1, "cache@same-l3");
  ASSERT_TRUE(ok.offered) << ok.skip_reason;
  EXPECT_EQ(ok.workers[0].to_string(), "victim=0,injector=0,writer=0,noise=cache:1");
  EXPECT_FALSE(plan(t, PlacementKind::kUnpinned, 1, "spin@same-l3").offered);
  EXPECT_THROW(parse_noise("spin"), UsageError);
  EXPECT_THROW(parse_noise("boil@same-l3"), UsageError);
  EXPECT_THROW(parse_noise("spin@next-door"), UsageError);
  EXPECT_EQ(format_noise(parse_noise("spin@smt-sibling,cache@other-l3")), "spin@smt-sibling,cache@other-l3");
}

TEST(PlacementPlan, RandomDrawsFromTheSeedWithinEachWorkersPool) {
  Topology t = Topology::synthetic(synthetic_machines::kDualEpyc7763);
  PlacementPlan p = plan(t, PlacementKind::kRandom, 2);
  ASSERT_EQ(p.pools.size(), 2u);
  EXPECT_EQ(p.pools[0].size() + p.pools[1].size(), 256u);
  std::set<std::pair<int, int>> seen;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const Placement a = p.for_trial(1, seed);
    EXPECT_EQ(a.to_string(), p.for_trial(1, seed).to_string()) << "same seed, same draw";
    auto [v, i] = pair_of(a);
    EXPECT_GE(v, 128);
    EXPECT_GE(i, 128);
    EXPECT_EQ(a.cpu_of(Role::kWriter), i);
    seen.insert({v, i});
  }
  EXPECT_GT(seen.size(), 150u);  // draws vary with the seed
  Topology small = Topology::synthetic(synthetic_machines::kThisProjectVm);
  EXPECT_FALSE(plan(small, PlacementKind::kRandom, 3).offered);
}

TEST(PlacementPlan, ExplicitCpusAreValidatedAndNotSharedByWorkersUnlessAsked) {
  Topology t = Topology::synthetic(synthetic_machines::kEpyc4Vcpu);
  PlanRequest request;
  request.kind = PlacementKind::kCpus;
  request.cpus = Placement::parse("victim=0,injector=3");
  PlacementPlan p = plan_placement(t, request);
  ASSERT_TRUE(p.offered);
  EXPECT_EQ(p.name, "victim=0,injector=3");
  request.workers = 2;
  EXPECT_THROW(plan_placement(t, request), UsageError);
  request.share_pus = true;
  EXPECT_EQ(plan_placement(t, request).workers.size(), 2u);
  request.cpus = Placement::parse("victim=9");
  EXPECT_THROW(plan_placement(t, request), UsageError);
}

}  // namespace
}  // namespace flakelab::harness
