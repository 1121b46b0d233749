#include "flakelab/harness/placement.h"

#include <gtest/gtest.h>

#include "flakelab/harness/error.h"
#include "flakelab/harness/topology.h"

namespace flakelab::harness {
namespace {

using scenarios::Role;

TEST(Placement, EmptyIsUnpinned) {
  Placement placement = Placement::parse("");
  EXPECT_TRUE(placement.unpinned());
  EXPECT_EQ(placement.to_string(), "unpinned");
  EXPECT_EQ(placement.cpu_of(Role::kVictim), std::nullopt);
}

TEST(Placement, ParsesRolesInAnyOrderAndPrintsThemInRoleOrder) {
  Placement placement = Placement::parse("writer=5,injector=1,victim=0");
  EXPECT_EQ(placement.cpu_of(Role::kVictim), 0);
  EXPECT_EQ(placement.cpu_of(Role::kInjector), 1);
  EXPECT_EQ(placement.cpu_of(Role::kWriter), 5);
  EXPECT_FALSE(placement.unpinned());
  EXPECT_EQ(placement.to_string(), "victim=0,injector=1,writer=5");
  EXPECT_EQ(Placement::parse("injector=3").to_string(), "injector=3");
}

TEST(Placement, RejectsBadSyntaxWithTheExpectedForm) {
  for (const char* bad : {"victim", "victim=", "victim=x", "victim=-1", "victim=1x", "boss=1",
                          "victim=0,", ",victim=0", "victim=0,victim=1", "victim:0", "=1",
                          "victim=0;injector=1", "victim= 1"}) {
    try {
      Placement::parse(bad);
      ADD_FAILURE() << "accepted --cpus " << bad;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("expected ROLE=CPU"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(Placement, ValidateRejectsCpusTheTopologyLacks) {
  Topology topology = Topology::synthetic("package:1 core:2 pu:2");  // PUs 0-3
  Placement::parse("victim=0,injector=3").validate(topology);
  try {
    Placement::parse("victim=0,writer=4").validate(topology);
    ADD_FAILURE() << "CPU 4 accepted on a 4-PU machine";
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(),
                 "--cpus writer=4: CPU 4 does not exist on this machine (usable CPUs per hwloc: "
                 "0-3)");
  }
}

}  // namespace
}  // namespace flakelab::harness
