// The machine's processing units (PUs), from hwloc: which core, L3 group, NUMA node and
// package each belongs to, and binding processes to them.
#pragma once

#include <hwloc.h>

#include <cstdint>
#include <string>
#include <vector>

namespace flakelab::harness {

// Where one PU sits. Ids are hwloc logical indexes of the enclosing objects, unique per
// object type; -1 where hwloc reports no such object (no L3 cache, say).
struct PuInfo {
  int os = -1;        // Linux CPU number (hwloc os_index)
  int core = -1;      // a PU without a core object counts as its own core
  int l3 = -1;
  int numa = -1;
  int package = -1;
  uint64_t l3_bytes = 0;  // size of its L3, 0 if none
};

class Topology {
 public:
  // Discovers this machine. Throws HarnessError.
  Topology();
  // A synthetic topology, e.g. "package:2 core:4 pu:2" (tests model other machines
  // with it). Binding is not possible on it. Throws HarnessError.
  static Topology synthetic(const std::string& description);
  // An hwloc XML export of another machine (`lstopo machine.xml`). Throws HarnessError.
  static Topology from_xml(const std::string& path);
  // `--topology FILE|SYNTHETIC`: an existing file is read as XML, anything else must be
  // a synthetic description. Throws UsageError naming what was tried.
  static Topology from_spec(const std::string& spec);

  Topology(Topology&& other) noexcept;
  Topology& operator=(Topology&&) = delete;
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;
  ~Topology();

  // Linux CPU numbers (hwloc PU os_index) of the PUs this process may use, ascending.
  const std::vector<int>& pus() const { return pus_; }
  bool has_pu(int cpu) const;
  // Where each usable PU sits, in pus() order.
  const std::vector<PuInfo>& pu_info() const { return info_; }
  // The PU with Linux number `cpu`; throws HarnessError if it is not usable.
  const PuInfo& pu(int cpu) const;
  // Usable PUs of `cpu`'s core, other than `cpu`, ascending.
  std::vector<int> core_siblings(int cpu) const;

  size_t cores() const;       // distinct cores among usable PUs
  size_t l3_groups() const;   // distinct L3 caches (0: hwloc reports none)
  size_t numa_nodes() const;
  size_t packages() const;
  bool smt() const;           // some core has more than one usable PU

  // False for synthetic and XML topologies: nothing can be bound on them, and a plan
  // made from them is a simulation.
  bool is_this_system() const;
  // "this machine", "synthetic 'pack:1 core:2 pu:2'", "XML file m.xml".
  const std::string& source() const { return source_; }

  // Pins every thread of the calling process to the PU `cpu`
  // (hwloc_set_cpubind, HWLOC_CPUBIND_PROCESS). Throws HarnessError.
  void bind_current_process(int cpu) const;

  hwloc_topology_t raw() const { return topology_; }

 private:
  Topology(hwloc_topology_t topology, std::string source);
  hwloc_topology_t topology_ = nullptr;
  std::string source_;
  std::vector<int> pus_;
  std::vector<PuInfo> info_;
};

// "0-3,6,8-9" for {0,1,2,3,6,8,9}; "" for none. `cpus` need not be sorted.
std::string format_cpu_list(std::vector<int> cpus);

// Synthetic descriptions of the machines the planner is tested against.
namespace synthetic_machines {
// 1 package x 2 cores x 2 PUs, Linux sibling numbering (core 0 = CPUs 0 and 2), like a
// 4-vCPU EPYC 7763 CI runner.
inline constexpr const char* kEpyc4Vcpu = "pack:1 l3:1 core:2 pu:2(indexes=2*2:2*1)";
// 2 packages x 8 L3 (CCX) x 8 cores x 2 PUs, one NUMA node per package, Linux numbering
// (CPU N and N+128 are siblings), like a dual EPYC 7763.
inline constexpr const char* kDualEpyc7763 =
    "pack:2 [numa] l3:8 core:8 pu:2(indexes=2*128:128*1)";
// This project's machine: 1 package, 1 L3, 2 cores without SMT.
inline constexpr const char* kThisProjectVm = "pack:1 l3:1 core:2 pu:1";
}  // namespace synthetic_machines

}  // namespace flakelab::harness
