#include "flakelab/harness/topology.h"

#include <errno.h>
#include <fmt/core.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "flakelab/harness/error.h"

namespace flakelab::harness {
namespace {

struct TopologyDeleter {
  void operator()(hwloc_topology_t topology) const { hwloc_topology_destroy(topology); }
};
using TopologyPtr = std::unique_ptr<hwloc_topology, TopologyDeleter>;

TopologyPtr new_topology() {
  hwloc_topology_t topology = nullptr;
  if (hwloc_topology_init(&topology) != 0) throw os_error("hwloc_topology_init");
  return TopologyPtr(topology);
}

void load(hwloc_topology_t topology, const std::string& what) {
  if (hwloc_topology_load(topology) != 0) throw os_error("hwloc_topology_load (" + what + ")");
}

}  // namespace

Topology::Topology(hwloc_topology_t topology) : topology_(topology) {
  hwloc_obj_t pu = nullptr;
  while ((pu = hwloc_get_next_obj_by_type(topology_, HWLOC_OBJ_PU, pu)) != nullptr) {
    pus_.push_back(static_cast<int>(pu->os_index));
  }
  std::sort(pus_.begin(), pus_.end());
}

Topology::Topology() : Topology([] {
  TopologyPtr topology = new_topology();
  load(topology.get(), "this machine");
  return topology.release();
}()) {
  if (pus_.empty()) throw HarnessError("hwloc found no processing unit on this machine");
}

Topology Topology::synthetic(const std::string& description) {
  TopologyPtr topology = new_topology();
  if (hwloc_topology_set_synthetic(topology.get(), description.c_str()) != 0) {
    throw HarnessError(
        errno_text(fmt::format("hwloc: invalid synthetic topology '{}'", description), errno));
  }
  load(topology.get(), "synthetic '" + description + "'");
  return Topology(topology.release());
}

Topology::Topology(Topology&& other) noexcept
    : topology_(std::exchange(other.topology_, nullptr)), pus_(std::move(other.pus_)) {}

Topology::~Topology() {
  if (topology_ != nullptr) hwloc_topology_destroy(topology_);
}

bool Topology::has_pu(int cpu) const { return std::binary_search(pus_.begin(), pus_.end(), cpu); }

void Topology::bind_current_process(int cpu) const {
  if (!hwloc_topology_is_thissystem(topology_)) {
    throw HarnessError(fmt::format("cannot bind to CPU {}: the topology is not this machine", cpu));
  }
  hwloc_obj_t pu = cpu >= 0 ? hwloc_get_pu_obj_by_os_index(topology_, static_cast<unsigned>(cpu))
                            : nullptr;
  if (pu == nullptr) throw HarnessError(fmt::format("cannot bind to CPU {}: no such PU", cpu));
  if (hwloc_set_cpubind(topology_, pu->cpuset, HWLOC_CPUBIND_PROCESS) != 0) {
    throw os_error(fmt::format("hwloc_set_cpubind(process {}, CPU {})", ::getpid(), cpu));
  }
}

std::string format_cpu_list(std::vector<int> cpus) {
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace flakelab::harness
