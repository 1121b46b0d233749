#include "flakelab/harness/campaign.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "flakelab/harness/error.h"
#include "flakelab/harness/params.h"
#include "flakelab/harness/shard_split.h"
#include "flakelab/harness/topology.h"

namespace flakelab::harness {
namespace {

std::string known_scenarios() {
  std::string out;
  for (const auto& scenario : scenarios::registry()) {
    if (!out.empty()) out += ", ";
    out += scenario->name();
  }
  return out;
}

std::string prefix(const EntrySpec& entry) { return entry.where.empty() ? "" : entry.where + ": "; }

// Every combination of the entry's parameter values, as "k=v" lists, in order.
std::vector<std::vector<std::string>> grid(const EntrySpec& entry) {
  std::vector<std::vector<std::string>> out{{}};
  for (const auto& [name, values] : entry.params) {
    if (values.empty()) throw UsageError(fmt::format("{}parameter {} has no value", prefix(entry), name));
    std::vector<std::vector<std::string>> next;
    for (const auto& partial : out) {
      for (const std::string& value : values) {
        next.push_back(partial);
        next.back().push_back(name + "=" + value);
      }
    }
    out = std::move(next);
  }
  return out;
}

std::vector<std::regex> compile(const std::vector<std::string>& patterns, const char* option) {
  std::vector<std::regex> out;
  for (const std::string& pattern : patterns) {
    try {
      out.emplace_back(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw UsageError(fmt::format("{} '{}': not a valid regular expression ({})", option, pattern, e.what()));
    }
  }
  return out;
}

uint64_t fnv1a(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : text) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h;
}

}  // namespace

const char* to_string(Expect expect) { return expect == Expect::kPass ? "pass" : "flaky"; }

const char* to_string(KeepArtifacts keep) {
  switch (keep) {
    case KeepArtifacts::kNever: return "never";
    case KeepArtifacts::kFailed: return "failed";
    case KeepArtifacts::kAlways: return "always";
  }
  return "unknown";
}

KeepArtifacts keep_artifacts_from_string(std::string_view text) {
  for (KeepArtifacts keep : {KeepArtifacts::kNever, KeepArtifacts::kFailed, KeepArtifacts::kAlways}) {
    if (text == to_string(keep)) return keep;
  }
  throw UsageError(fmt::format("--keep-artifacts '{}': expected failed, always or never", text));
}

std::string PlannedCell::label() const {
  return fmt::format("{}  {}  {}", scenario->name(), placement.name, params_text.empty() ? "-" : params_text);
}

int64_t CampaignPlan::total_trials() const {
  int64_t total = 0;
  for (const PlannedCell& cell : cells) total += cell.trials;
  return total;
}

CampaignPlan plan_campaign(const CampaignSpec& spec, const Topology& topology) {
  CampaignPlan plan;
  plan.spec = spec;
  plan.simulated = !topology.is_this_system();
  plan.topology_source = topology.source();
  if (spec.entries.empty()) throw UsageError("nothing to run: give a scenario or --campaign FILE");
  if (spec.jobs < 1) throw UsageError(fmt::format("-j {}: need at least 1 worker", spec.jobs));
  constexpr double kMaxTimeout = 1e6;  // ~11.5 days; keeps the deadline arithmetic exact
  auto check_timeout = [&](double t, const std::string& where) {
    if (!(t > 0) || !(t <= kMaxTimeout)) {
      throw UsageError(fmt::format("{}--timeout {}: need a positive number of seconds, at most {:g}", where, t,
                                   kMaxTimeout));
    }
  };
  check_timeout(spec.timeout_s, "");
  if (spec.max_time_s && !(*spec.max_time_s > 0)) {
    throw UsageError(fmt::format("--max-time {}: need a positive number of seconds", *spec.max_time_s));
  }
  if (spec.shard_count != 0) {
    if (spec.shard_count < 1 || spec.shard_index < 1 || spec.shard_index > spec.shard_count) {
      throw UsageError(fmt::format("--shard {}/{}: need 1 <= I <= N", spec.shard_index, spec.shard_count));
    }
    for (const EntrySpec& entry : spec.entries) {
      // Stopping after K failures cannot be coordinated between machines.
      if (entry.until_failures) {
        throw UsageError(fmt::format("{}until_failures cannot be combined with --shard (each shard would stop on "
                                     "its own failures)",
                                     prefix(entry)));
      }
    }
  }
  plan.failure = compile(spec.failure_regexes, "--failure");
  plan.ignore = compile(spec.ignore_regexes, "--ignore");

  int ordinal = 0;
  for (size_t e = 0; e < spec.entries.size(); ++e) {
    const EntrySpec& entry = spec.entries[e];
    scenarios::Scenario* scenario = scenarios::find_scenario(entry.scenario);
    if (scenario == nullptr) {
      throw UsageError(fmt::format("{}unknown scenario '{}' (known: {}; see `flakelab scenarios`)", prefix(entry),
                                   entry.scenario, known_scenarios()));
    }
    if (entry.trials < 1) throw UsageError(fmt::format("{}-n {}: need at least 1 trial", prefix(entry), entry.trials));
    if (entry.until_failures && *entry.until_failures < 1) {
      throw UsageError(fmt::format("{}--until-failures {}: need at least 1", prefix(entry), *entry.until_failures));
    }
    if (entry.timeout_s) check_timeout(*entry.timeout_s, prefix(entry));
    // cmd without a command would only record errors.
    if (entry.scenario == "cmd") {
      const bool has_command = std::any_of(entry.params.begin(), entry.params.end(), [](const auto& param) {
        return param.first == "command" &&
               std::none_of(param.second.begin(), param.second.end(), [](const std::string& v) { return v.empty(); });
      });
      if (!has_command) {
        throw UsageError(fmt::format("{}cmd runs a command: `flakelab run cmd [OPTIONS] -- PROGRAM ARGS...` (in a "
                                     "campaign file: command = [\"PROGRAM\", \"ARG\"])",
                                     prefix(entry)));
      }
    }
    std::vector<NoiseSpec> noise;
    JitterSpec jitter;
    std::vector<PlanRequest> requests;
    bool explicit_placements = true;
    try {
      noise = parse_noise(entry.noise);
      jitter = parse_jitter(entry.jitter, *scenario);
      if (!entry.cpus.empty()) {
        PlanRequest request;
        request.kind = PlacementKind::kCpus;
        request.cpus = Placement::parse(entry.cpus);
        requests.push_back(request);
      } else {
        explicit_placements = entry.placements != "all";
        for (PlacementKind kind : parse_placement_list(entry.placements)) {
          PlanRequest request;
          request.kind = kind;
          requests.push_back(request);
        }
      }
    } catch (const UsageError& err) {
      throw UsageError(prefix(entry) + err.what());
    }
    std::vector<PlacementPlan> placements;
    for (PlanRequest& request : requests) {
      request.noise = noise;
      request.workers = spec.jobs;
      request.share_pus = spec.share_pus;
      try {
        placements.push_back(plan_placement(topology, request));
      } catch (const UsageError& err) {
        throw UsageError(prefix(entry) + err.what());
      }
      const PlacementPlan& placement = placements.back();
      if (!placement.offered && explicit_placements) {
        throw UsageError(fmt::format("{}placement {} is not possible on {}: {} (--placement all lists what it offers)",
                                     prefix(entry), placement.name, topology.source(), placement.skip_reason));
      }
    }
    for (const std::vector<std::string>& assignments : grid(entry)) {
      PlannedCell base;
      base.entry = static_cast<int>(e);
      base.scenario = scenario;
      try {
        base.params = resolve_params(*scenario, assignments);
      } catch (const UsageError& err) {
        throw UsageError(prefix(entry) + err.what());
      }
      base.params_text = canonical_params(base.params);
      std::optional<std::string> skip;
      try {
        skip = scenario->skip_reason(base.params);
      } catch (const std::invalid_argument& err) {
        throw UsageError(prefix(entry) + err.what());
      }
      if (!jitter.empty()) {
        base.params_text += fmt::format("{}jitter={}", base.params_text.empty() ? "" : ",", jitter.canonical());
      }
      base.jitter = jitter;
      base.trials = entry.trials;
      base.cell_trials = entry.trials;
      base.until_failures = entry.until_failures;
      base.expect = entry.expect;
      base.timeout_s = entry.timeout_s.value_or(spec.timeout_s);
      for (const PlacementPlan& placement : placements) {
        PlannedCell cell = base;
        cell.placement = placement;
        cell.ordinal = ordinal++;
        if (skip) {  // the scenario cannot run these parameters here
          cell.placement.offered = false;
          cell.placement.skip_reason = *skip;
        }
        (cell.placement.offered ? plan.cells : plan.skipped).push_back(std::move(cell));
      }
    }
  }
  if (spec.shard_count != 0 && !plan.cells.empty()) {
    plan.shard = fmt::format("{}/{}", spec.shard_index, spec.shard_count);
    std::vector<PlannedCell> mine;
    for (PlannedCell& cell : plan.cells) {
      const TrialRange range = shard_range(cell.cell_trials, cell.ordinal, spec.shard_index, spec.shard_count);
      if (range.count == 0) continue;
      cell.first_index = range.first;
      cell.trials = range.count;
      mine.push_back(std::move(cell));
    }
    if (mine.empty()) {
      throw UsageError(fmt::format("--shard {}: this shard has no trials on {} ({} cells offered; every cell has "
                                   "fewer trials than there are shards): use fewer shards or more trials",
                                   plan.shard, topology.source(), plan.cells.size()));
    }
    plan.cells = std::move(mine);
  }
  if (plan.cells.empty()) {
    std::string reasons;
    for (const PlannedCell& cell : plan.skipped) {
      reasons += fmt::format("\n  {}: {}", cell.placement.name, cell.placement.skip_reason);
    }
    throw UsageError("nothing to run: every cell was skipped on " + topology.source() + reasons);
  }
  plan.seed = spec.seed.value_or(0);
  if (!spec.campaign_text.empty()) {
    // Overrides (e.g. -n) change the cells, so they are part of what the hash identifies.
    const std::string hashed =
        spec.campaign_overrides.empty() ? spec.campaign_text : spec.campaign_text + '\0' + spec.campaign_overrides;
    plan.campaign_hash = fmt::format("{:016x}", fnv1a(hashed));
  }
  return plan;
}

std::string format_plan(const CampaignPlan& plan) {
  std::string out;
  if (!plan.shard.empty()) {
    out += fmt::format("shard {}{} of campaign {} (seed {}): trial ranges of each cell below\n", plan.shard,
                       plan.spec.shard_group.empty() ? "" : " (group " + plan.spec.shard_group + ")",
                       plan.campaign_hash, plan.seed);
  }
  out += fmt::format("plan on {}{}: {} cell{}, {} trials at most, -j {}{}\n", plan.topology_source,
                     plan.simulated ? " (SIMULATED: a dry run; nothing is pinned or run on this topology)" : "",
                     plan.cells.size(), plan.cells.size() == 1 ? "" : "s", plan.total_trials(), plan.spec.jobs,
                     plan.spec.share_pus ? " (workers may share PUs)" : "");
  for (size_t i = 0; i < plan.cells.size(); ++i) {
    const PlannedCell& cell = plan.cells[i];
    out += fmt::format("  cell {}: {}  x{}{}{}\n", i + 1, cell.label(), cell.trials,
                       cell.trials != cell.cell_trials
                           ? fmt::format(" (trials {}..{} of {})", cell.first_index,
                                         cell.first_index + cell.trials - 1, cell.cell_trials)
                           : "",
                       cell.until_failures ? fmt::format(" (until {} failures)", *cell.until_failures) : "");
    for (size_t w = 0; w < std::max(cell.placement.workers.size(), cell.placement.pools.size()); ++w) {
      const std::string where = cell.placement.kind == PlacementKind::kRandom
                                    ? "random over " + format_cpu_list(cell.placement.pools[w])
                                    : cell.placement.workers[w].to_string();
      out += fmt::format("      worker {}: {}\n", w, where);
    }
  }
  for (const PlannedCell& cell : plan.skipped) {
    out += fmt::format("  skipped: {}  {}: {}\n", cell.scenario->name(), cell.placement.name,
                       cell.placement.skip_reason);
  }
  return out;
}

}  // namespace flakelab::harness
