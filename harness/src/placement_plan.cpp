#include "flakelab/harness/placement_plan.h"

#include <fmt/core.h>

#include <algorithm>
#include <map>
#include <set>

#include "flakelab/harness/error.h"
#include "flakelab/harness/seed.h"
#include "flakelab/harness/topology.h"

namespace flakelab::harness {
namespace {

using scenarios::Role;

struct Pair {
  int victim;
  int injector;
};

// PUs grouped by core, cores ordered by id, PUs ascending: "core k, PU rank r".
using Cores = std::vector<std::vector<int>>;

Cores cores_of(const std::vector<const PuInfo*>& pus) {
  std::map<int, std::vector<int>> by_core;
  for (const PuInfo* pu : pus) by_core[pu->core].push_back(pu->os);
  Cores out;
  for (auto& [core, list] : by_core) {
    std::sort(list.begin(), list.end());
    out.push_back(std::move(list));
  }
  return out;
}

template <typename Key>
std::map<int, std::vector<const PuInfo*>> group_by(const Topology& topology, Key key) {
  std::map<int, std::vector<const PuInfo*>> out;
  for (const PuInfo& pu : topology.pu_info()) out[key(pu)].push_back(&pu);
  return out;
}

size_t max_rank(const Cores& cores) {
  size_t r = 0;
  for (const auto& core : cores) r = std::max(r, core.size());
  return r;
}

// Pairs core k of `a` with core k of `b`, PU rank by rank (first PUs first, so that
// workers avoid sharing a core while they can).
void pair_cores(const Cores& a, const Cores& b, std::vector<Pair>& out) {
  const size_t ranks = std::max(max_rank(a), max_rank(b));
  for (size_t r = 0; r < ranks; ++r) {
    for (size_t k = 0; k < std::min(a.size(), b.size()); ++k) {
      if (r < a[k].size() && r < b[k].size()) out.push_back({a[k][r], b[k][r]});
    }
  }
}

// Candidate (victim, injector) pairs of a kind in a deterministic order, or the reason
// there are none.
std::vector<Pair> candidates(const Topology& topology, PlacementKind kind, std::string& reason) {
  std::vector<Pair> out;
  switch (kind) {
    case PlacementKind::kSamePu:
      for (int pu : topology.pus()) out.push_back({pu, pu});
      break;
    case PlacementKind::kSmtSiblings:
    case PlacementKind::kSameCore: {
      std::vector<const PuInfo*> all;
      for (const PuInfo& pu : topology.pu_info()) all.push_back(&pu);
      for (const auto& core : cores_of(all)) {
        for (size_t r = 0; r + 1 < core.size(); r += 2) out.push_back({core[r], core[r + 1]});
      }
      if (out.empty()) {
        reason = fmt::format("no core has two usable PUs (SMT is off or absent: {} cores, {} PUs)",
                             topology.cores(), topology.pus().size());
      }
      break;
    }
    case PlacementKind::kSameL3: {
      if (topology.l3_groups() == 0) {
        reason = "hwloc reports no L3 cache on this machine";
        break;
      }
      for (auto& [l3, pus] : group_by(topology, [](const PuInfo& pu) { return pu.l3; })) {
        if (l3 < 0) continue;
        const Cores cores = cores_of(pus);
        Cores even, odd;
        for (size_t k = 0; k + 1 < cores.size(); k += 2) {
          even.push_back(cores[k]);
          odd.push_back(cores[k + 1]);
        }
        pair_cores(even, odd, out);
      }
      if (out.empty()) reason = fmt::format("every L3 group holds a single core ({} L3 groups, {} cores)",
                                            topology.l3_groups(), topology.cores());
      break;
    }
    case PlacementKind::kCrossL3: {
      if (topology.l3_groups() == 0) {
        reason = "hwloc reports no L3 cache on this machine";
        break;
      }
      if (topology.l3_groups() < 2) {
        reason = "this machine has a single L3 group";
        break;
      }
      for (auto& [numa, pus] : group_by(topology, [](const PuInfo& pu) { return pu.numa; })) {
        std::map<int, std::vector<const PuInfo*>> by_l3;
        for (const PuInfo* pu : pus) {
          if (pu->l3 >= 0) by_l3[pu->l3].push_back(pu);
        }
        std::vector<Cores> groups;
        for (auto& [l3, members] : by_l3) groups.push_back(cores_of(members));
        for (size_t g = 0; g + 1 < groups.size(); g += 2) pair_cores(groups[g], groups[g + 1], out);
      }
      if (out.empty()) {
        reason = fmt::format("no NUMA node holds two L3 groups ({} L3 groups, {} NUMA nodes): see cross-numa",
                             topology.l3_groups(), topology.numa_nodes());
      }
      break;
    }
    case PlacementKind::kCrossNuma: {
      if (topology.numa_nodes() < 2) {
        reason = fmt::format("this machine has {} NUMA node{}", topology.numa_nodes(),
                             topology.numa_nodes() == 1 ? "" : "s");
        break;
      }
      std::vector<Cores> nodes;
      for (auto& [numa, pus] : group_by(topology, [](const PuInfo& pu) { return pu.numa; })) {
        if (numa >= 0) nodes.push_back(cores_of(pus));
      }
      for (size_t n = 0; n + 1 < nodes.size(); n += 2) pair_cores(nodes[n], nodes[n + 1], out);
      break;
    }
    case PlacementKind::kUnpinned:
    case PlacementKind::kRandom:
    case PlacementKind::kCpus:
      break;
  }
  return out;
}

// PUs where a noise process may go for a victim on `victim`, in preference order.
std::vector<int> noise_candidates(const Topology& topology, NoiseWhere where, int victim, std::string& reason) {
  const PuInfo& v = topology.pu(victim);
  std::vector<int> out;
  switch (where) {
    case NoiseWhere::kSmtSibling:
      out = topology.core_siblings(victim);
      if (out.empty()) reason = fmt::format("the victim's CPU {} has no SMT sibling", victim);
      break;
    case NoiseWhere::kSameL3:
      if (v.l3 < 0) {
        reason = "hwloc reports no L3 cache on this machine";
        break;
      }
      for (const PuInfo& pu : topology.pu_info()) {
        if (pu.l3 == v.l3 && pu.core != v.core) out.push_back(pu.os);
      }
      if (out.empty()) reason = fmt::format("the victim's CPU {} shares its L3 with no other core", victim);
      break;
    case NoiseWhere::kOtherL3:
      if (v.l3 < 0) {
        reason = "hwloc reports no L3 cache on this machine";
        break;
      }
      for (const PuInfo& pu : topology.pu_info()) {
        if (pu.l3 >= 0 && pu.l3 != v.l3) out.push_back(pu.os);
      }
      if (out.empty()) reason = "this machine has a single L3 group";
      break;
  }
  return out;
}

// Adds noise processes to `placement` for a victim on `victim`, avoiding `taken` (other
// workers) and, if it can, the victim's own roles. False with a reason if impossible.
bool add_noise(const Topology& topology, const std::vector<NoiseSpec>& noise, int victim,
               const std::set<int>& taken, Placement& placement, std::string& reason) {
  std::set<int> mine = {victim};
  if (auto injector = placement.cpu_of(Role::kInjector)) mine.insert(*injector);
  for (const NoiseSpec& spec : noise) {
    std::string why;
    const std::vector<int> options = noise_candidates(topology, spec.where, victim, why);
    if (options.empty()) {
      reason = fmt::format("--noise {}@{}: {}", to_string(spec.kind), to_string(spec.where), why);
      return false;
    }
    std::optional<int> chosen;
    for (int cpu : options) {
      if (!taken.contains(cpu) && !mine.contains(cpu)) {
        chosen = cpu;
        break;
      }
    }
    if (!chosen) {  // share with the injector (never the victim) rather than give up
      auto injector = placement.cpu_of(Role::kInjector);
      if (injector && *injector != victim && std::find(options.begin(), options.end(), *injector) != options.end() &&
          !taken.contains(*injector)) {
        chosen = *injector;
      }
    }
    if (!chosen) {
      reason = fmt::format("--noise {}@{}: every candidate PU ({}) is already used", to_string(spec.kind),
                           to_string(spec.where), format_cpu_list(options));
      return false;
    }
    mine.insert(*chosen);
    placement.add_noise({spec.kind, *chosen});
  }
  return true;
}

std::string plan_name(const PlanRequest& request) {
  std::string name = request.kind == PlacementKind::kCpus ? request.cpus.to_string() : to_string(request.kind);
  if (!request.noise.empty()) name += "+noise=" + format_noise(request.noise);
  return name;
}

PlacementPlan skipped(PlacementPlan plan, std::string reason) {
  plan.offered = false;
  plan.skip_reason = std::move(reason);
  plan.workers.clear();
  plan.pools.clear();
  return plan;
}

}  // namespace

const char* to_string(PlacementKind kind) {
  switch (kind) {
    case PlacementKind::kSamePu: return "same-pu";
    case PlacementKind::kSmtSiblings: return "smt-siblings";
    case PlacementKind::kSameCore: return "same-core";
    case PlacementKind::kSameL3: return "same-l3";
    case PlacementKind::kCrossL3: return "cross-l3";
    case PlacementKind::kCrossNuma: return "cross-numa";
    case PlacementKind::kUnpinned: return "unpinned";
    case PlacementKind::kRandom: return "random";
    case PlacementKind::kCpus: return "cpus";
  }
  return "unknown-placement";
}

const std::vector<PlacementKind>& named_placements() {
  static const std::vector<PlacementKind> all = {
      PlacementKind::kSamePu,  PlacementKind::kSmtSiblings, PlacementKind::kSameCore,
      PlacementKind::kSameL3,  PlacementKind::kCrossL3,     PlacementKind::kCrossNuma,
      PlacementKind::kUnpinned, PlacementKind::kRandom};
  return all;
}

PlacementKind placement_kind_from_string(std::string_view name) {
  for (PlacementKind kind : named_placements()) {
    if (name == to_string(kind)) return kind;
  }
  std::string names;
  for (PlacementKind kind : named_placements()) names += fmt::format("{}{}", names.empty() ? "" : ", ", to_string(kind));
  throw UsageError(fmt::format("unknown placement '{}' (known: {}, or all)", name, names));
}

std::vector<PlacementKind> parse_placement_list(std::string_view text) {
  if (text == "all") return named_placements();
  std::vector<PlacementKind> out;
  std::string_view rest = text;
  for (;;) {
    const size_t comma = rest.find(',');
    const PlacementKind kind = placement_kind_from_string(rest.substr(0, comma));
    if (std::find(out.begin(), out.end(), kind) != out.end()) {
      throw UsageError(fmt::format("--placement {}: '{}' is given twice", text, to_string(kind)));
    }
    out.push_back(kind);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return out;
}

Placement PlacementPlan::for_trial(int worker, uint64_t trial_seed) const {
  if (kind != PlacementKind::kRandom) return workers.at(static_cast<size_t>(worker));
  const std::vector<int>& pool = pools.at(static_cast<size_t>(worker));
  Placement placement;
  const auto pick = [&](uint64_t salt) {
    return pool[static_cast<size_t>(splitmix64(trial_seed ^ salt) % pool.size())];
  };
  const int victim = pick(0x76696374696dULL);    // "victim"
  const int injector = pick(0x696e6a6563746fULL);  // "injecto"
  placement.set(Role::kVictim, victim);
  placement.set(Role::kInjector, injector);
  placement.set(Role::kWriter, injector);
  return placement;
}

std::string PlacementPlan::describe() const {
  if (!offered) return "skipped: " + skip_reason;
  std::string out;
  if (kind == PlacementKind::kRandom) {
    for (const auto& pool : pools) {
      if (!out.empty()) out += "; ";
      out += "random over " + format_cpu_list(pool);
    }
    return out;
  }
  for (const Placement& placement : workers) {
    if (!out.empty()) out += "; ";
    out += placement.to_string();
  }
  return out;
}

PlacementPlan plan_placement(const Topology& topology, const PlanRequest& request) {
  if (request.workers < 1) throw UsageError(fmt::format("-j {}: need at least 1 worker", request.workers));
  PlacementPlan plan;
  plan.kind = request.kind;
  plan.name = plan_name(request);
  plan.offered = true;
  const size_t workers = static_cast<size_t>(request.workers);

  if (request.kind == PlacementKind::kUnpinned || request.kind == PlacementKind::kRandom) {
    if (!request.noise.empty()) {
      return skipped(plan, fmt::format("--noise needs the victim on a fixed PU, which {} does not give",
                                       to_string(request.kind)));
    }
    if (request.kind == PlacementKind::kUnpinned) {
      plan.workers.assign(workers, Placement{});
      return plan;
    }
    const std::vector<int>& pus = topology.pus();
    if (request.share_pus) {
      plan.pools.assign(workers, pus);
      return plan;
    }
    if (pus.size() < workers) {
      return skipped(plan, fmt::format("-j {} needs {} PUs to give each worker its own, this machine has {} "
                                       "(--share-pus lets workers share)",
                                       workers, workers, pus.size()));
    }
    for (size_t w = 0; w < workers; ++w) {
      const size_t begin = pus.size() * w / workers, end = pus.size() * (w + 1) / workers;
      plan.pools.emplace_back(pus.begin() + static_cast<long>(begin), pus.begin() + static_cast<long>(end));
    }
    return plan;
  }

  if (request.kind == PlacementKind::kCpus) {
    request.cpus.validate(topology);
    if (workers > 1 && !request.share_pus && !request.cpus.unpinned()) {
      throw UsageError(fmt::format("-j {} with --cpus would pin every worker to the same CPUs; add "
                                   "--share-pus, or use a named --placement",
                                   workers));
    }
    Placement placement = request.cpus;
    if (!request.noise.empty()) {
      const auto victim = placement.cpu_of(Role::kVictim);
      if (!victim) throw UsageError("--noise with --cpus needs the victim pinned (victim=CPU)");
      std::string reason;
      if (!add_noise(topology, request.noise, *victim, {}, placement, reason)) throw UsageError(reason);
    }
    plan.workers.assign(workers, placement);
    return plan;
  }

  std::string reason;
  const std::vector<Pair> pairs = candidates(topology, request.kind, reason);
  if (pairs.empty()) return skipped(plan, reason);

  std::set<int> taken;
  std::string noise_reason;
  size_t pus_per_worker = 0;
  for (const Pair& pair : pairs) {
    if (plan.workers.size() == workers) break;
    if (!request.share_pus && (taken.contains(pair.victim) || taken.contains(pair.injector))) continue;
    Placement placement;
    placement.set(Role::kVictim, pair.victim);
    placement.set(Role::kInjector, pair.injector);
    placement.set(Role::kWriter, pair.injector);  // the writer follows the injector
    std::string why;
    if (!add_noise(topology, request.noise, pair.victim, request.share_pus ? std::set<int>{} : taken, placement,
                   why)) {
      if (noise_reason.empty()) noise_reason = why;
      continue;
    }
    const std::vector<int> used = placement.cpus();
    pus_per_worker = used.size();
    taken.insert(used.begin(), used.end());
    plan.workers.push_back(std::move(placement));
  }
  if (plan.workers.empty()) return skipped(plan, noise_reason);
  if (plan.workers.size() < workers) {
    if (!request.share_pus) {
      return skipped(plan, fmt::format("-j {}: this machine has {} disjoint set{} of PUs for {} (each uses {} "
                                       "PU{}); --share-pus lets workers share PUs",
                                       workers, plan.workers.size(), plan.workers.size() == 1 ? "" : "s",
                                       plan.name, pus_per_worker, pus_per_worker == 1 ? "" : "s"));
    }
    for (size_t w = plan.workers.size(), n = plan.workers.size(); w < workers; ++w) {
      plan.workers.push_back(plan.workers[w % n]);
    }
  }
  return plan;
}

}  // namespace flakelab::harness
