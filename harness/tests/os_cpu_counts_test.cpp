#include "flakelab/harness/os_cpu_counts.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "flakelab/harness/topology.h"

namespace flakelab::harness {
namespace {

TEST(OsCpuCounts, CountsSyntheticMachines) {
  const Topology dual = Topology::synthetic(synthetic_machines::kDualEpyc7763);
  const OsCpuCounts d = count_os_cpus(dual.raw());
  EXPECT_EQ(d.packages, 2);
  EXPECT_EQ(d.numa_nodes, 2);
  EXPECT_EQ(d.l3_domains, 16);
  EXPECT_EQ(d.cores, 128);
  EXPECT_EQ(d.pus, 256);

  // A 2-vCPU guest: what `flakelab cpu` must print there, not the host part's 254 CPUs.
  const Topology vm = Topology::synthetic(synthetic_machines::kThisProjectVm);
  const OsCpuCounts v = count_os_cpus(vm.raw());
  EXPECT_EQ(v.packages, 1);
  EXPECT_EQ(v.cores, 2);
  EXPECT_EQ(v.pus, 2);
  EXPECT_EQ(v.l3_domains, 1);
}

TEST(OsCpuCounts, PusWithoutCoresAreCores) {
  const Topology flat = Topology::synthetic("pack:1 pu:3");
  const OsCpuCounts c = count_os_cpus(flat.raw());
  EXPECT_EQ(c.pus, 3);
  EXPECT_EQ(c.cores, 3);
  EXPECT_EQ(c.l3_domains, 0);
}

TEST(OsCpuCounts, ThisMachineMatchesTheKernel) {
  const OsCpuCounts c = detect_os_cpu_counts();
  EXPECT_EQ(c.pus, sysconf(_SC_NPROCESSORS_ONLN));
  EXPECT_GE(c.cores, 1);
  EXPECT_LE(c.cores, c.pus);
  EXPECT_GE(c.packages, 1);
}

}  // namespace
}  // namespace flakelab::harness
