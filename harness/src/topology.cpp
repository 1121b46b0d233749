#include "flakelab/harness/topology.h"

#include <errno.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>
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

int logical_of(hwloc_obj_t obj) { return obj != nullptr ? static_cast<int>(obj->logical_index) : -1; }

template <typename Member>
size_t distinct(const std::vector<PuInfo>& info, Member member) {
  std::set<int> ids;
  for (const PuInfo& pu : info) {
    if (pu.*member >= 0) ids.insert(pu.*member);
  }
  return ids.size();
}

}  // namespace

Topology::Topology(hwloc_topology_t topology, std::string source)
    : topology_(topology), source_(std::move(source)) {
  const int numa_count = hwloc_get_nbobjs_by_type(topology_, HWLOC_OBJ_NUMANODE);
  hwloc_obj_t pu = nullptr;
  // A machine without core objects: PU i is core (cores_seen + i), never shared.
  const int core_objects = hwloc_get_nbobjs_by_type(topology_, HWLOC_OBJ_CORE);
  while ((pu = hwloc_get_next_obj_by_type(topology_, HWLOC_OBJ_PU, pu)) != nullptr) {
    PuInfo info;
    info.os = static_cast<int>(pu->os_index);
    hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(topology_, HWLOC_OBJ_CORE, pu);
    info.core = core != nullptr ? logical_of(core) : core_objects + static_cast<int>(pu->logical_index);
    hwloc_obj_t l3 = hwloc_get_ancestor_obj_by_type(topology_, HWLOC_OBJ_L3CACHE, pu);
    info.l3 = logical_of(l3);
    if (l3 != nullptr && l3->attr != nullptr) info.l3_bytes = l3->attr->cache.size;
    info.package = logical_of(hwloc_get_ancestor_obj_by_type(topology_, HWLOC_OBJ_PACKAGE, pu));
    // NUMA nodes are memory children in hwloc 2: find the one whose cpuset has the PU.
    for (int i = 0; i < numa_count; ++i) {
      hwloc_obj_t node = hwloc_get_obj_by_type(topology_, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
      if (node != nullptr && node->cpuset != nullptr && hwloc_bitmap_isset(node->cpuset, pu->os_index)) {
        info.numa = logical_of(node);
        break;
      }
    }
    info_.push_back(info);
  }
  std::sort(info_.begin(), info_.end(), [](const PuInfo& a, const PuInfo& b) { return a.os < b.os; });
  for (const PuInfo& info : info_) pus_.push_back(info.os);
}

Topology::Topology()
    : Topology(
          [] {
            TopologyPtr topology = new_topology();
            load(topology.get(), "this machine");
            return topology.release();
          }(),
          "this machine") {
  if (pus_.empty()) throw HarnessError("hwloc found no processing unit on this machine");
}

Topology Topology::synthetic(const std::string& description) {
  TopologyPtr topology = new_topology();
  if (hwloc_topology_set_synthetic(topology.get(), description.c_str()) != 0) {
    throw HarnessError(
        errno_text(fmt::format("hwloc: invalid synthetic topology '{}'", description), errno));
  }
  load(topology.get(), "synthetic '" + description + "'");
  return Topology(topology.release(), "synthetic '" + description + "'");
}

Topology Topology::from_xml(const std::string& path) {
  TopologyPtr topology = new_topology();
  if (hwloc_topology_set_xml(topology.get(), path.c_str()) != 0) {
    throw HarnessError(errno_text(fmt::format("hwloc: cannot read XML topology '{}'", path), errno));
  }
  load(topology.get(), "XML file '" + path + "'");
  Topology result(topology.release(), "XML file '" + path + "'");
  if (result.pus().empty()) throw HarnessError(fmt::format("hwloc: XML topology '{}' has no PU", path));
  return result;
}

Topology Topology::from_spec(const std::string& spec) {
  struct stat st {};
  if (::stat(spec.c_str(), &st) == 0) {
    try {
      return from_xml(spec);
    } catch (const HarnessError& e) {
      throw UsageError(fmt::format("--topology {}: {}", spec, e.what()));
    }
  }
  try {
    return synthetic(spec);
  } catch (const HarnessError&) {
    throw UsageError(fmt::format(
        "--topology '{}': not an existing file (hwloc XML) and not a synthetic hwloc description "
        "such as 'pack:2 [numa] l3:8 core:8 pu:2'",
        spec));
  }
}

Topology::Topology(Topology&& other) noexcept
    : topology_(std::exchange(other.topology_, nullptr)),
      source_(std::move(other.source_)),
      pus_(std::move(other.pus_)),
      info_(std::move(other.info_)) {}

Topology::~Topology() {
  if (topology_ != nullptr) hwloc_topology_destroy(topology_);
}

bool Topology::has_pu(int cpu) const { return std::binary_search(pus_.begin(), pus_.end(), cpu); }

const PuInfo& Topology::pu(int cpu) const {
  auto it = std::lower_bound(pus_.begin(), pus_.end(), cpu);
  if (it == pus_.end() || *it != cpu) {
    throw HarnessError(fmt::format("CPU {} is not a usable PU of {} (usable: {})", cpu, source_,
                                   format_cpu_list(pus_)));
  }
  return info_[static_cast<size_t>(it - pus_.begin())];
}

std::vector<int> Topology::core_siblings(int cpu) const {
  const int core = pu(cpu).core;
  std::vector<int> out;
  for (const PuInfo& info : info_) {
    if (info.core == core && info.os != cpu) out.push_back(info.os);
  }
  return out;
}

size_t Topology::cores() const { return distinct(info_, &PuInfo::core); }
size_t Topology::l3_groups() const { return distinct(info_, &PuInfo::l3); }
size_t Topology::numa_nodes() const { return distinct(info_, &PuInfo::numa); }
size_t Topology::packages() const { return distinct(info_, &PuInfo::package); }
bool Topology::smt() const { return cores() < info_.size(); }

bool Topology::is_this_system() const { return hwloc_topology_is_thissystem(topology_) != 0; }

void Topology::bind_current_process(int cpu) const {
  if (!is_this_system()) {
    throw HarnessError(fmt::format("cannot bind to CPU {}: the topology is not this machine ({})",
                                   cpu, source_));
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
