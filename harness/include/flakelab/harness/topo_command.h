// `flakelab topo [--json]`: the topology model (PUs with their core, L3, NUMA node and
// package) and which placements this machine offers, or why not.
#pragma once

#include <string>

#include "flakelab/harness/placement_plan.h"

namespace flakelab::harness {

class Topology;

// The text or JSON `flakelab topo` prints for `topology`, placements planned for
// `workers` workers.
std::string format_topology_text(const Topology& topology, int workers = 1, bool share_pus = false);
std::string format_topology_json(const Topology& topology, int workers = 1, bool share_pus = false);

}  // namespace flakelab::harness
