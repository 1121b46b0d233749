#include "flakelab/harness/rerun_command.h"

#include <errno.h>
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <string_view>
#include <vector>

#include "flakelab/harness/campaign_runner.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/interrupt.h"
#include "flakelab/harness/params.h"
#include "flakelab/harness/run_command.h"
#include "flakelab/harness/seed.h"
#include "flakelab/harness/topology.h"
#include "flakelab/results/store.h"

namespace flakelab::harness {
namespace {

using scenarios::Role;

// The role PUs a trial recorded ("victim=0,injector=1,command=0+1,noise=3": roles only).
Placement recorded_roles(const std::string& cpus_used) {
  Placement placement;
  size_t begin = 0;
  while (begin <= cpus_used.size()) {
    size_t end = cpus_used.find(',', begin);
    if (end == std::string::npos) end = cpus_used.size();
    const std::string_view item = std::string_view(cpus_used).substr(begin, end - begin);
    const size_t eq = item.find('=');
    if (eq != std::string_view::npos) {
      const std::optional<Role> role = scenarios::role_from_string(item.substr(0, eq));
      const std::string_view cpu = item.substr(eq + 1);
      if (role && !cpu.empty() && std::all_of(cpu.begin(), cpu.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        placement.set(*role, std::stoi(std::string(cpu)));
      }
    }
    begin = end + 1;
  }
  return placement;
}

// Whether `candidate` puts every role the trial recorded where it was recorded (a
// scenario records only the roles it uses: cmd records its command's threads instead
// of the victim).
bool has_recorded_roles(const Placement& candidate, const Placement& recorded) {
  for (Role role : {Role::kVictim, Role::kInjector, Role::kWriter}) {
    if (recorded.cpu_of(role) && candidate.cpu_of(role) != recorded.cpu_of(role)) return false;
  }
  return true;
}

// The placement trial `seed` had: the worker's whose role PUs are the ones recorded
// (its noise included); else, e.g. for a trial whose roles were not all recorded,
// exactly the recorded roles.
Placement trial_placement(const PlacementPlan& plan, const std::string& cpus_used, uint64_t seed) {
  const Placement recorded = recorded_roles(cpus_used);
  if (plan.kind == PlacementKind::kUnpinned) return plan.for_trial(0, seed);
  const size_t workers = std::max(plan.workers.size(), plan.pools.size());
  for (size_t w = 0; w < workers; ++w) {
    Placement candidate = plan.for_trial(static_cast<int>(w), seed);
    if (has_recorded_roles(candidate, recorded)) return candidate;
  }
  return recorded;
}

// Re-executes this rerun (without --wrap) under the wrapper; returns only on failure.
[[noreturn]] void exec_wrapped(const RerunOptions& options) {
  std::vector<std::string> args{"sh", "-c", "exec " + options.wrap + " \"$@\"", "sh", options.self_exe, "rerun",
                                std::to_string(options.run_id), std::to_string(options.trial), "--db", options.db,
                                "--keep-artifacts", options.keep_artifacts};
  if (options.artifacts_dir) {
    args.push_back("--artifacts-dir");
    args.push_back(*options.artifacts_dir);
  }
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  ::execv("/bin/sh", argv.data());
  throw os_error("exec /bin/sh to run the rerun under --wrap '" + options.wrap + "'");
}

}  // namespace

int rerun_command(const RerunOptions& options) {
  const results::RunRecord run = [&] {
    results::Store store(options.db);
    const std::vector<int64_t> ids = store.run_ids();
    if (std::find(ids.begin(), ids.end(), options.run_id) == ids.end()) {
      throw UsageError(fmt::format("no run {} in {} (see `flakelab report --db {}`)", options.run_id, options.db,
                                   options.db));
    }
    return store.run(options.run_id);
  }();
  const results::TrialRecord recorded = [&] {
    results::Store store(options.db);
    for (const results::TrialRecord& trial : store.trials(options.run_id)) {
      if (trial.index == options.trial) return trial;
    }
    throw UsageError(fmt::format("run {} in {} has no trial {}", options.run_id, options.db, options.trial));
  }();
  const bool is_cmd = run.info.scenario == "cmd";
  if (!options.wrap.empty() && !is_cmd) exec_wrapped(options);

  // The run's own command line, with what makes it one trial of one cell overridden.
  std::vector<std::string> words = split_command_line(run.info.command_line);
  const auto verb = std::find(words.begin(), words.end(), "run");
  if (verb == words.end()) {
    throw UsageError(fmt::format("run {} was not recorded by `flakelab run` (command line: {})", options.run_id,
                                 run.info.command_line));
  }
  RunOptions run_options = parse_run_arguments(std::vector<std::string>(verb + 1, words.end()));
  run_options.db = options.db;
  run_options.seed = run.info.seed;
  run_options.jobs = 1;
  run_options.max_time.reset();
  run_options.until_failures.reset();
  run_options.shard.reset();
  run_options.shard_group.clear();
  run_options.dry_run = false;
  run_options.topology.clear();
  run_options.keep_hung = false;
  run_options.keep_artifacts = options.keep_artifacts;
  run_options.artifacts_dir = options.artifacts_dir;
  run_options.command_line = options.command_line;
  const CampaignSpec spec = build_campaign_spec(run_options);
  const Topology topology;
  CampaignPlan plan = plan_campaign(spec, topology);

  const auto same_cell = [&](const PlannedCell& cell) {
    return cell.scenario->name() == run.info.scenario && cell.params_text == run.info.params &&
           cell.placement.name == run.info.placement;
  };
  const auto found = std::find_if(plan.cells.begin(), plan.cells.end(), same_cell);
  if (found == plan.cells.end()) {
    throw UsageError(fmt::format("run {}'s cell ({} {} {}) is not among the cells its command line gives now "
                                 "(`{}`): was its campaign file changed or moved?",
                                 options.run_id, run.info.scenario, run.info.placement, run.info.params,
                                 run.info.command_line));
  }
  PlannedCell cell = *found;
  const uint64_t seed = trial_seed(run.info.seed, options.trial);
  Placement placement = trial_placement(cell.placement, recorded.cpus_used, seed);
  cell.placement.kind = PlacementKind::kCpus;
  cell.placement.workers = {placement};
  cell.placement.pools.clear();
  cell.trials = 1;
  cell.first_index = options.trial;
  cell.until_failures.reset();
  if (!options.wrap.empty()) {
    cell.params["wrap"] = options.wrap;
    cell.params_text = canonical_params(cell.params) +
                       (cell.jitter.empty() ? "" : fmt::format(",jitter={}", cell.jitter.canonical()));
  }
  plan.cells = {cell};
  plan.skipped.clear();
  plan.shard.clear();

  fmt::print("rerun of run {} trial {}: {}  params: {}  placement: {} ({})  trial seed: {} (run seed {})\n",
             options.run_id, options.trial, run.info.scenario, cell.params_text, run.info.placement,
             placement.to_string(), seed, run.info.seed);
  fmt::print("recorded: {}{}{}  cpus: {}\n", results::to_string(recorded.outcome), recorded.message.empty() ? "" : ": ",
             recorded.message, recorded.cpus_used);
  std::fflush(stdout);
  install_interrupt_handlers();
  const CampaignResult result = run_campaign(plan, topology);
  if (int sig = interrupt_signal()) return 128 + sig;
  if (result.cells.empty() || result.cells.front().trials != 1) {
    throw HarnessError(fmt::format("rerun of run {} trial {} recorded no trial", options.run_id, options.trial));
  }
  const CellResult& cell_result = result.cells.front();
  results::Store store(options.db);
  const std::vector<results::TrialRecord> trials = store.trials(cell_result.run_id);
  if (trials.size() != 1) {
    throw HarnessError(fmt::format("rerun run {} holds {} trials, not 1", cell_result.run_id, trials.size()));
  }
  const results::TrialRecord& again = trials.front();
  fmt::print("rerun:    {}{}{}  cpus: {}\n", results::to_string(again.outcome), again.message.empty() ? "" : ": ",
             again.message, again.cpus_used);
  fmt::print("recorded as run {}{}\n", cell_result.run_id,
             cell_result.artifacts_dir.empty()
                 ? ""
                 : fmt::format("; artifacts: {}/trial-{}", cell_result.artifacts_dir, options.trial));
  const bool same = again.outcome == recorded.outcome;
  fmt::print("{}\n", same ? "same outcome as recorded" : "NOT the recorded outcome");
  return same ? kExitOk : kExitTrialsFailed;
}

}  // namespace flakelab::harness
