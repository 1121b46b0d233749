// Named placements (`--placement same-pu|smt-siblings|...|all`) planned on a topology:
// which PUs the victim, the injector (and the writer, which follows the injector) and
// the noise processes of each worker use, or why this machine cannot offer the placement.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flakelab/harness/noise.h"
#include "flakelab/harness/placement.h"

namespace flakelab::harness {

class Topology;

enum class PlacementKind {
  kSamePu,       // victim and injector on one PU
  kSmtSiblings,  // two PUs of one core
  kSameCore,     // the same as smt-siblings where cores have SMT; skipped without it
  kSameL3,       // two cores sharing an L3 (a CCX on AMD EPYC)
  kCrossL3,      // two L3 groups of one NUMA node
  kCrossNuma,    // two NUMA nodes
  kUnpinned,     // nothing pinned
  kRandom,       // each trial draws the victim's and the injector's PU from the seed
  kCpus,         // explicit --cpus ROLE=CPU,...
};

const char* to_string(PlacementKind kind);
// Every named placement, in the order `all` sweeps them (not kCpus).
const std::vector<PlacementKind>& named_placements();
// Throws UsageError listing the names.
PlacementKind placement_kind_from_string(std::string_view name);
// "same-pu,random" or "all" -> kinds, in the given order (all: named_placements()).
// Throws UsageError on an unknown or repeated name.
std::vector<PlacementKind> parse_placement_list(std::string_view text);

struct PlanRequest {
  PlacementKind kind = PlacementKind::kUnpinned;
  Placement cpus;                  // kCpus only
  std::vector<NoiseSpec> noise;
  int workers = 1;
  bool share_pus = false;          // let pinned workers share PUs
};

// A placement as planned for a run: offered (with one assignment per worker) or skipped.
struct PlacementPlan {
  PlacementKind kind = PlacementKind::kUnpinned;
  std::string name;      // recorded as the run's placement: "same-pu", "same-l3+noise=spin@smt-sibling"
  bool offered = false;
  std::string skip_reason;
  // kRandom: the PUs each worker draws from; otherwise one fixed placement per worker.
  std::vector<Placement> workers;
  std::vector<std::vector<int>> pools;

  // The placement of one trial: fixed per worker, or (kRandom) drawn from the worker's
  // pool with the trial seed, so the same seed draws the same PUs.
  Placement for_trial(int worker, uint64_t trial_seed) const;
  // "victim=0,injector=0" per worker, "; "-separated; "random over 0-1" for kRandom.
  std::string describe() const;
};

// Plans `request` on `topology`. Never throws for a placement the machine cannot offer:
// that is a skipped plan with the reason. Throws UsageError for a bad request (a --cpus
// CPU the topology lacks, noise with an unpinned placement...).
PlacementPlan plan_placement(const Topology& topology, const PlanRequest& request);

}  // namespace flakelab::harness
