#include "flakelab/harness/topology.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flakelab/harness/binding.h"
#include "flakelab/harness/error.h"
#include <stdlib.h>

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

namespace flakelab::harness {
namespace {

TEST(TopologyModel, ThisProjectsMachine) {
  Topology t = Topology::synthetic(synthetic_machines::kThisProjectVm);
  EXPECT_FALSE(t.is_this_system());
  EXPECT_EQ(t.pus(), (std::vector<int>{0, 1}));
  EXPECT_EQ(t.cores(), 2u);
  EXPECT_EQ(t.l3_groups(), 1u);
  EXPECT_EQ(t.numa_nodes(), 1u);
  EXPECT_EQ(t.packages(), 1u);
  EXPECT_FALSE(t.smt());
  EXPECT_TRUE(t.core_siblings(0).empty());
  EXPECT_NE(t.pu(0).core, t.pu(1).core);
  EXPECT_EQ(t.pu(0).l3, t.pu(1).l3);
}

TEST(TopologyModel, LinuxSiblingNumberingOfA4VcpuRunner) {
  Topology t = Topology::synthetic(synthetic_machines::kEpyc4Vcpu);
  EXPECT_EQ(t.pus(), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_TRUE(t.smt());
  EXPECT_EQ(t.cores(), 2u);
  // Siblings are CPU N and N+2, as Linux numbers them.
  EXPECT_EQ(t.core_siblings(0), std::vector<int>{2});
  EXPECT_EQ(t.core_siblings(1), std::vector<int>{3});
  EXPECT_EQ(t.pu(0).core, t.pu(2).core);
  EXPECT_NE(t.pu(0).core, t.pu(1).core);
}

TEST(TopologyModel, DualEpyc7763) {
  Topology t = Topology::synthetic(synthetic_machines::kDualEpyc7763);
  EXPECT_EQ(t.pus().size(), 256u);
  EXPECT_EQ(t.packages(), 2u);
  EXPECT_EQ(t.numa_nodes(), 2u);
  EXPECT_EQ(t.l3_groups(), 16u);
  EXPECT_EQ(t.cores(), 128u);
  EXPECT_EQ(t.core_siblings(0), std::vector<int>{128});
  EXPECT_EQ(t.core_siblings(200), std::vector<int>{72});
  EXPECT_EQ(t.pu(7).l3, t.pu(0).l3);    // cores 0-7 share a CCX
  EXPECT_NE(t.pu(8).l3, t.pu(0).l3);
  EXPECT_EQ(t.pu(63).numa, t.pu(0).numa);
  EXPECT_NE(t.pu(64).numa, t.pu(0).numa);  // package 1 starts at CPU 64
  EXPECT_NE(t.pu(64).package, t.pu(0).package);
}

TEST(TopologyModel, ThisMachineIsThisSystem) {
  Topology t;
  EXPECT_TRUE(t.is_this_system());
  EXPECT_EQ(t.source(), "this machine");
  EXPECT_EQ(t.pu_info().size(), t.pus().size());
  for (const PuInfo& pu : t.pu_info()) EXPECT_GE(pu.core, 0);
}

TEST(TopologyModel, SpecIsAnXmlFileOrASyntheticDescription) {
  EXPECT_EQ(Topology::from_spec("pack:1 core:2 pu:1").pus().size(), 2u);
  try {
    Topology::from_spec("no such file or topology");
    ADD_FAILURE() << "accepted a bogus --topology";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("not an existing file (hwloc XML) and not a synthetic"), std::string::npos)
        << e.what();
  }
  // An XML export of a synthetic machine reads back as the same machine.
  Topology synthetic = Topology::synthetic(synthetic_machines::kEpyc4Vcpu);
  char path[] = "/tmp/flakelab-topo-XXXXXX.xml";
  const int fd = ::mkstemps(path, 4);
  ASSERT_GE(fd, 0);
  ::close(fd);
  ASSERT_EQ(hwloc_topology_export_xml(synthetic.raw(), path, 0), 0);
  Topology xml = Topology::from_spec(path);
  ::unlink(path);
  EXPECT_FALSE(xml.is_this_system());
  EXPECT_EQ(xml.pus(), synthetic.pus());
  EXPECT_EQ(xml.core_siblings(0), std::vector<int>{2});
  EXPECT_NE(xml.source().find("XML file"), std::string::npos);
}

}  // namespace
}  // namespace flakelab::harness
