// How many packages, cores, PUs, NUMA nodes and L3 domains the operating system sees (hwloc),
// counting every online PU whether or not this process may use it. On a VM these are the
// guest's numbers; CPUID's per-package counts describe the host's physical part and are
// not what the guest has (a 2-vCPU guest of a 128-core EPYC reports 254 logical CPUs).
#pragma once

#include <hwloc.h>

namespace flakelab::harness {

struct OsCpuCounts {
  int packages = 0;
  int cores = 0;       // a PU without a core object counts as its own core
  int pus = 0;         // online logical CPUs ("vCPUs" on a VM)
  int numa_nodes = 0;
  int l3_domains = 0;  // 0 when hwloc reports no L3 cache
};

// The counts of a loaded topology.
OsCpuCounts count_os_cpus(hwloc_topology_t topology);

// Loads this machine's topology, disallowed PUs included. Throws HarnessError.
OsCpuCounts detect_os_cpu_counts();

}  // namespace flakelab::harness
