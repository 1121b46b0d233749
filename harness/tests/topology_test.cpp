#include "flakelab/harness/topology.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flakelab/harness/binding.h"
#include "flakelab/harness/error.h"

namespace flakelab::harness {
namespace {

TEST(CpuList, CompressesRuns) {
  EXPECT_EQ(format_cpu_list({}), "");
  EXPECT_EQ(format_cpu_list({3}), "3");
  EXPECT_EQ(format_cpu_list({0, 1}), "0-1");
  EXPECT_EQ(format_cpu_list({9, 0, 2, 1, 3, 6, 8, 6}), "0-3,6,8-9");
}

TEST(Topology, SyntheticMachinesHaveTheirPus) {
  Topology topology = Topology::synthetic("package:2 core:4 pu:2");
  ASSERT_EQ(topology.pus().size(), 16u);
  EXPECT_EQ(topology.pus().front(), 0);
  EXPECT_EQ(topology.pus().back(), 15);
  EXPECT_TRUE(topology.has_pu(15));
  EXPECT_FALSE(topology.has_pu(16));
  EXPECT_FALSE(topology.has_pu(-1));
  EXPECT_THROW(topology.bind_current_process(0), HarnessError);
  EXPECT_THROW(Topology::synthetic("bogus:7"), HarnessError);
}

TEST(Topology, ThisMachineMatchesTheKernelsView) {
  Topology topology;
  std::vector<int> allowed = thread_affinity(::getpid());
  // hwloc lists the PUs this process may use, which is what sched_getaffinity says
  // (no test has narrowed it yet).
  EXPECT_EQ(topology.pus(), allowed);
}

TEST(Topology, BindsTheWholeProcess) {
  Topology topology;
  const int cpu = topology.pus().back();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    try {
      topology.bind_current_process(cpu);
      std::vector<int> now = thread_affinity(0);
      ::_exit(now == std::vector<int>{cpu} ? 0 : 1);
    } catch (...) {
      ::_exit(2);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Topology, RefusesAPuItDoesNotHave) {
  Topology topology;
  try {
    topology.bind_current_process(100000);
    ADD_FAILURE() << "bound to CPU 100000";
  } catch (const HarnessError& e) {
    EXPECT_STREQ(e.what(), "cannot bind to CPU 100000: no such PU");
  }
}

}  // namespace
}  // namespace flakelab::harness
