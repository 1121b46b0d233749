#include "flakelab/harness/os_cpu_counts.h"

#include <memory>

#include "flakelab/harness/error.h"

namespace flakelab::harness {
namespace {

struct TopologyDeleter {
  void operator()(hwloc_topology_t topology) const { hwloc_topology_destroy(topology); }
};
using TopologyPtr = std::unique_ptr<hwloc_topology, TopologyDeleter>;

int count(hwloc_topology_t topology, hwloc_obj_type_t type) {
  const int n = hwloc_get_nbobjs_by_type(topology, type);
  return n > 0 ? n : 0;  // -1 means "at several depths", which none of these types is
}

}  // namespace

OsCpuCounts count_os_cpus(hwloc_topology_t topology) {
  OsCpuCounts counts;
  counts.packages = count(topology, HWLOC_OBJ_PACKAGE);
  counts.pus = count(topology, HWLOC_OBJ_PU);
  counts.numa_nodes = count(topology, HWLOC_OBJ_NUMANODE);
  counts.l3_domains = count(topology, HWLOC_OBJ_L3CACHE);
  // Same rule as Topology: PUs outside any core object are cores of their own.
  counts.cores = count(topology, HWLOC_OBJ_CORE);
  hwloc_obj_t pu = nullptr;
  while ((pu = hwloc_get_next_obj_by_type(topology, HWLOC_OBJ_PU, pu)) != nullptr) {
    if (hwloc_get_ancestor_obj_by_type(topology, HWLOC_OBJ_CORE, pu) == nullptr) ++counts.cores;
  }
  return counts;
}

OsCpuCounts detect_os_cpu_counts() {
  hwloc_topology_t raw = nullptr;
  if (hwloc_topology_init(&raw) != 0) throw os_error("hwloc_topology_init");
  TopologyPtr topology(raw);
  // Count what the OS has online, not only what this process's cpuset allows.
  if (hwloc_topology_set_flags(raw, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED) != 0) {
    throw os_error("hwloc_topology_set_flags(INCLUDE_DISALLOWED)");
  }
  if (hwloc_topology_load(raw) != 0) throw os_error("hwloc_topology_load (this machine, all online PUs)");
  const OsCpuCounts counts = count_os_cpus(raw);
  if (counts.pus == 0) throw HarnessError("hwloc found no online processing unit on this machine");
  return counts;
}

}  // namespace flakelab::harness
