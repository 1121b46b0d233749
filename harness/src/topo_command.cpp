#include "flakelab/harness/topo_command.h"

#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "flakelab/harness/topology.h"

namespace flakelab::harness {
namespace {

std::vector<PlacementPlan> plans(const Topology& topology, int workers, bool share_pus) {
  std::vector<PlacementPlan> out;
  for (PlacementKind kind : named_placements()) {
    PlanRequest request;
    request.kind = kind;
    request.workers = workers;
    request.share_pus = share_pus;
    out.push_back(plan_placement(topology, request));
  }
  return out;
}

std::string id(int value) { return value < 0 ? "-" : std::to_string(value); }

}  // namespace

std::string format_topology_text(const Topology& topology, int workers, bool share_pus) {
  std::string out;
  out += fmt::format("topology: {}{}\n", topology.source(),
                     topology.is_this_system() ? "" : " (SIMULATED: planning only, nothing can be pinned)");
  out += fmt::format("packages: {}  NUMA nodes: {}  L3 groups: {}  cores: {}  PUs: {}  SMT: {}\n",
                     topology.packages(), topology.numa_nodes(), topology.l3_groups(), topology.cores(),
                     topology.pus().size(), topology.smt() ? "yes" : "no");
  out += "  PU  core  L3  NUMA  package  SMT siblings\n";
  for (const PuInfo& pu : topology.pu_info()) {
    const std::string siblings = format_cpu_list(topology.core_siblings(pu.os));
    out += fmt::format("{:>4}  {:>4}  {:>2}  {:>4}  {:>7}  {}\n", pu.os, id(pu.core), id(pu.l3), id(pu.numa),
                       id(pu.package), siblings.empty() ? "-" : siblings);
  }
  out += fmt::format("placements (-j {}{}):\n", workers, share_pus ? ", --share-pus" : "");
  for (const PlacementPlan& plan : plans(topology, workers, share_pus)) {
    out += fmt::format("  {:<13} {}\n", plan.name, plan.offered ? "offered: " + plan.describe() : plan.describe());
  }
  return out;
}

std::string format_topology_json(const Topology& topology, int workers, bool share_pus) {
  nlohmann::ordered_json j;
  j["source"] = topology.source();
  j["simulated"] = !topology.is_this_system();
  j["packages"] = topology.packages();
  j["numa_nodes"] = topology.numa_nodes();
  j["l3_groups"] = topology.l3_groups();
  j["cores"] = topology.cores();
  j["smt"] = topology.smt();
  j["pus"] = nlohmann::ordered_json::array();
  for (const PuInfo& pu : topology.pu_info()) {
    nlohmann::ordered_json p;
    p["cpu"] = pu.os;
    p["core"] = pu.core;
    p["l3"] = pu.l3;
    p["numa"] = pu.numa;
    p["package"] = pu.package;
    p["l3_bytes"] = pu.l3_bytes;
    p["smt_siblings"] = topology.core_siblings(pu.os);
    j["pus"].push_back(p);
  }
  j["workers"] = workers;
  j["placements"] = nlohmann::ordered_json::array();
  for (const PlacementPlan& plan : plans(topology, workers, share_pus)) {
    nlohmann::ordered_json p;
    p["name"] = plan.name;
    p["offered"] = plan.offered;
    if (!plan.offered) p["reason"] = plan.skip_reason;
    p["workers"] = nlohmann::ordered_json::array();
    for (const Placement& placement : plan.workers) p["workers"].push_back(placement.to_string());
    for (const auto& pool : plan.pools) p["workers"].push_back("random over " + format_cpu_list(pool));
    j["placements"].push_back(p);
  }
  return j.dump(2) + "\n";
}

}  // namespace flakelab::harness
