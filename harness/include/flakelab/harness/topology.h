// The machine's processing units (PUs), from hwloc, and binding processes to them.
#pragma once

#include <hwloc.h>

#include <string>
#include <vector>

namespace flakelab::harness {

class Topology {
 public:
  // Discovers this machine. Throws HarnessError.
  Topology();
  // A synthetic topology, e.g. "package:2 core:4 pu:2" (tests model other machines
  // with it). Binding is not possible on it. Throws HarnessError.
  static Topology synthetic(const std::string& description);

  Topology(Topology&& other) noexcept;
  Topology& operator=(Topology&&) = delete;
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;
  ~Topology();

  // Linux CPU numbers (hwloc PU os_index) of the PUs this process may use, ascending.
  const std::vector<int>& pus() const { return pus_; }
  bool has_pu(int cpu) const;

  // Pins every thread of the calling process to the PU `cpu`
  // (hwloc_set_cpubind, HWLOC_CPUBIND_PROCESS). Throws HarnessError.
  void bind_current_process(int cpu) const;

  hwloc_topology_t raw() const { return topology_; }

 private:
  explicit Topology(hwloc_topology_t topology);
  hwloc_topology_t topology_ = nullptr;
  std::vector<int> pus_;
};

// "0-3,6,8-9" for {0,1,2,3,6,8,9}; "" for none. `cpus` need not be sorted.
std::string format_cpu_list(std::vector<int> cpus);

}  // namespace flakelab::harness
