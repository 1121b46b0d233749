// flakelab: the command-line entry point. Verbs: cpu, topo, scenarios, run, report,
// compare, merge, gate, bisect-verdict, and the engine's dump, restore, show.
#include <fmt/core.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "flakelab/harness/bisect_command.h"
#include "flakelab/harness/compare_command.h"
#include "flakelab/harness/gate_command.h"
#include "flakelab/harness/cpu_identity.h"
#include "flakelab/harness/engine_commands.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/params.h"
#include "flakelab/harness/report_command.h"
#include "flakelab/harness/run_command.h"
#include "flakelab/harness/topo_command.h"
#include "flakelab/harness/topology.h"
#include "flakelab/results/store.h"

namespace {

using namespace flakelab::harness;

int fail(int code, const std::string& message) {
  std::fflush(stdout);
  fmt::print(stderr, "flakelab: {}\n", message);
  return code;
}

// Copies an option's value into `target` only if it was given.
template <typename T>
void given(const CLI::Option* option, const T& value, std::optional<T>& target) {
  if (option->count() > 0) target = value;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flakelab " FLAKELAB_VERSION
               ": replays flaky checkpoint/restore scenarios, pinned to chosen CPUs, and "
               "records every trial in SQLite"};
  app.set_version_flag("--version", FLAKELAB_VERSION);
  app.require_subcommand(1);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off (stderr)")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  bool cpu_json = false;
  CLI::App* cpu = app.add_subcommand("cpu", "print the CPU identity (libcpuid, flakelab's table) and kernel");
  cpu->add_flag("--json", cpu_json, "print JSON");

  bool topo_json = false, topo_share = false;
  int topo_jobs = 1;
  std::string topo_spec;
  CLI::App* topo = app.add_subcommand("topo", "print the topology (hwloc) and the placements it offers");
  topo->add_flag("--json", topo_json, "print JSON");
  topo->add_option("--topology", topo_spec, "plan against an hwloc XML file or a synthetic description");
  topo->add_option("-j,--jobs", topo_jobs, "plan placements for this many workers")->capture_default_str();
  topo->add_flag("--share-pus", topo_share, "let workers share PUs");

  CLI::App* list = app.add_subcommand("scenarios", "list scenarios with their parameters and jitter points");

  RunOptions run_options;
  int64_t trials = 0, until_failures = 0;
  uint64_t seed = 0;
  int jobs = 1;
  double timeout = 10;
  std::string placement, db, max_time, keep_artifacts, artifacts_dir, noise, jitter;
  CLI::App* run = app.add_subcommand("run", "run trials of scenarios (or a campaign file), record them, summarize");
  run->add_option("scenarios", run_options.scenarios, "scenario names, see `flakelab scenarios`");
  run->add_option("--campaign", run_options.campaign, "TOML campaign file (scenarios, parameter grids, placements)");
  auto* trials_opt = run->add_option("-n,--trials", trials, "trials per cell (default 100)");
  run->add_option("--cpus", run_options.cpus, "pin roles to CPUs: victim=A,injector=B[,writer=C] (placement 'cpus')");
  auto* placement_opt = run->add_option(
      "--placement", placement,
      "same-pu, smt-siblings, same-core, same-l3, cross-l3, cross-numa, unpinned, random; a comma list, or all "
      "(default unpinned)");
  run->add_option("-p,--param", run_options.params, "scenario parameter NAME=VALUE (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  auto* db_opt = run->add_option("--db", db, "SQLite database file (default flakelab.db)");
  auto* seed_opt = run->add_option("--seed", seed, "run seed (default: random, printed)");
  auto* jobs_opt = run->add_option("-j,--jobs", jobs, "workers running trials at once, each on its own PUs");
  run->add_flag("--share-pus", run_options.share_pus, "let pinned workers share PUs");
  auto* timeout_opt = run->add_option("--timeout", timeout, "seconds before a trial gets SIGABRT, then SIGKILL (default 10)");
  auto* max_time_opt = run->add_option("--max-time", max_time, "wall-time budget of the whole run: 90, 90s, 10m, 1h");
  auto* until_opt = run->add_option("--until-failures", until_failures, "stop a cell after K failing trials");
  run->add_flag("--keep-hung", run_options.keep_hung,
                "leave a timed-out trial stopped (SIGSTOP) for a debugger, print its pids, and wait");
  auto* keep_opt = run->add_option("--keep-artifacts", keep_artifacts, "keep trial directories: failed (default), always, never");
  auto* artifacts_opt = run->add_option("--artifacts-dir", artifacts_dir, "where kept trial directories go (default: flakelab-artifacts beside the database)");
  run->add_option("--failure", run_options.failure, "a fail whose message matches none of these REGEXes is an error")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  run->add_option("--ignore", run_options.ignore, "a non-pass trial whose message matches REGEX is recorded as pass")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  auto* noise_opt = run->add_option("--noise", noise, "noise processes: KIND@WHERE,... (spin|cache|syscall @ smt-sibling|same-l3|other-l3)");
  auto* jitter_opt = run->add_option("--jitter", jitter, "random delays at the scenario's points: MAX or POINT=MAX,... (e.g. 500us)");
  run->add_option("--topology", run_options.topology, "plan against another machine (hwloc XML file or synthetic description): a dry run");
  run->add_flag("--dry-run", run_options.dry_run, "print the plan (cells, PUs per worker, skipped placements) and exit");
  std::string shard;
  auto* shard_opt = run->add_option("--shard", shard, "run shard I of N of the campaign (I/N; needs --campaign and a seed)");
  run->add_option("--shard-group", run_options.shard_group, "which sharded execution this shard belongs to (e.g. a CI runner label)");

  std::string report_db = "flakelab.db";
  int64_t report_run = 0;
  CLI::App* report = app.add_subcommand("report", "print the summary of one run or of all runs");
  report->add_option("--db", report_db, "SQLite database file")->capture_default_str();
  CLI::Option* report_run_option = report->add_option("--run", report_run, "run id (default: all)");
  std::string report_since, report_format = "text", report_output;
  CLI::Option* report_since_option =
      report->add_option("--since", report_since, "only runs started at or after this date (2026-11-23[T20:00:00]) or epoch ms");
  CLI::Option* report_format_option =
      report->add_option("--format", report_format, "text | json | junit | html | markdown (the triage report)");
  CLI::Option* report_output_option = report->add_option("-o,--output", report_output, "write the report to FILE");

  CompareRequest compare_request;
  CLI::App* compare = app.add_subcommand("compare", "two runs' cells side by side, with Fisher's exact test");
  compare->add_option("run_a", compare_request.run_a, "run id (stands for every cell of its `flakelab run`)")->required();
  compare->add_option("run_b", compare_request.run_b, "run id to compare with")->required();
  compare->add_option("--db", compare_request.db_a, "SQLite database file")->capture_default_str();
  compare->add_option("--db-b", compare_request.db_b, "database of RUN_B (default: --db)");

  std::string merge_output;
  std::vector<std::string> merge_inputs;
  CLI::App* merge = app.add_subcommand("merge", "combine results databases from many machines into one");
  merge->add_option("-o,--output", merge_output, "output database (created or extended)")->required();
  merge->add_option("inputs", merge_inputs, "input databases")->required();
  bool merge_require_complete = false;
  merge->add_flag("--require-complete", merge_require_complete, "exit 1 when a sharded campaign misses shards");

  GateRequest gate_request;
  std::string gate_baseline;
  CLI::App* gate = app.add_subcommand("gate", "the nightly verdict: shards, must-not-fail cells, rates and signatures against a baseline");
  gate->add_option("--db", gate_request.db, "results database to judge (e.g. the merged nightly)")->required();
  auto* gate_baseline_opt = gate->add_option("--baseline", gate_baseline, "baseline database (e.g. the last good nightly)");
  gate->add_option("--alpha", gate_request.alpha, "family-wise significance level of the rate tests (Holm)")->capture_default_str();
  gate->add_option("--confidence", gate_request.confidence, "confidence of the zero-failure upper bounds")->capture_default_str();
  gate->add_flag("--pool-cpus", gate_request.pool_cpus, "match cells across CPU models");
  gate->add_option("--ignore-param", gate_request.ignore_params, "leave parameter NAME out of the cell key (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);

  BisectRequest bisect_request;
  double bisect_bad_rate = 0;
  uint64_t bisect_seed = 0;
  CLI::App* bisect = app.add_subcommand(
      "bisect-verdict", "for `git bisect run`: trials until good (0), bad (1) or undecided (125) against a baseline rate");
  bisect->add_option("scenario", bisect_request.scenario, "scenario name")->required();
  bisect->add_option("-p,--param", bisect_request.params, "scenario parameter NAME=VALUE (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  bisect->add_option("--baseline-rate", bisect_request.baseline_rate, "failure rate of a good commit, 0..1")->required();
  auto* bisect_bad_opt = bisect->add_option("--bad-rate", bisect_bad_rate, "failure rate that counts as bad (default max(2P, P+0.05))");
  bisect->add_option("--confidence", bisect_request.confidence, "1 - the error probability each way")->capture_default_str();
  bisect->add_option("--max-trials", bisect_request.max_trials, "trial budget; undecided after it: skip (125)")->capture_default_str();
  bisect->add_option("--placement", bisect_request.placement, "one placement")->capture_default_str();
  bisect->add_option("--db", bisect_request.db, "SQLite database file")->capture_default_str();
  auto* bisect_seed_opt = bisect->add_option("--seed", bisect_seed, "run seed (default: random, printed)");
  bisect->add_option("--timeout", bisect_request.timeout_s, "per-trial limit in seconds")->capture_default_str();

  EngineVerbs engine_verbs(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    if (code != 0 && bisect->parsed()) return kBisectAbort;  // never let git bisect call it "bad"
    return code == 0 ? kExitOk : kExitUsage;
  }

  auto logger = spdlog::stderr_color_st("flakelab");
  logger->set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));

  try {
    if (*cpu) {
      const CpuIdentity identity = detect_cpu_identity();
      fmt::print("{}", cpu_json ? format_cpu_json(identity) : format_cpu_text(identity));
      return kExitOk;
    }
    if (*topo) {
      const Topology topology = topo_spec.empty() ? Topology() : Topology::from_spec(topo_spec);
      if (topo_jobs < 1) throw UsageError(fmt::format("-j {}: need at least 1 worker", topo_jobs));
      fmt::print("{}", topo_json ? format_topology_json(topology, topo_jobs, topo_share)
                                 : format_topology_text(topology, topo_jobs, topo_share));
      return kExitOk;
    }
    if (*list) {
      fmt::print("{}", format_scenario_list());
      return kExitOk;
    }
    if (*run) {
      given(trials_opt, trials, run_options.trials);
      given(placement_opt, placement, run_options.placement);
      given(db_opt, db, run_options.db);
      given(seed_opt, seed, run_options.seed);
      given(jobs_opt, jobs, run_options.jobs);
      given(timeout_opt, timeout, run_options.timeout_s);
      given(max_time_opt, max_time, run_options.max_time);
      given(until_opt, until_failures, run_options.until_failures);
      given(keep_opt, keep_artifacts, run_options.keep_artifacts);
      given(artifacts_opt, artifacts_dir, run_options.artifacts_dir);
      given(noise_opt, noise, run_options.noise);
      given(jitter_opt, jitter, run_options.jitter);
      given(shard_opt, shard, run_options.shard);
      run_options.command_line = quote_command_line(argc, argv);
      return run_command(run_options);
    }
    if (*report) {
      std::optional<int64_t> run_id;
      if (report_run_option->count() > 0) run_id = report_run;
      if (report_format_option->count() == 0 && report_since_option->count() == 0 &&
          report_output_option->count() == 0) {
        return report_command(report_db, run_id);  // the per-run summaries `run` prints
      }
      ReportRequest request;
      request.db_path = report_db;
      request.run_id = run_id;
      if (report_since_option->count() > 0) request.since = report_since;
      request.format = report_format;
      if (report_output_option->count() > 0) request.output = report_output;
      return formatted_report_command(request);
    }
    if (*compare) return compare_command(compare_request);
    if (*merge) return merge_command(merge_output, merge_inputs, merge_require_complete);
    if (*gate) {
      if (gate_baseline_opt->count() > 0) gate_request.baseline = gate_baseline;
      return gate_command(gate_request);
    }
    if (*bisect) {
      if (bisect_bad_opt->count() > 0) bisect_request.bad_rate = bisect_bad_rate;
      if (bisect_seed_opt->count() > 0) bisect_request.seed = bisect_seed;
      bisect_request.command_line = quote_command_line(argc, argv);
      try {
        return bisect_command(bisect_request);
      } catch (const std::exception& e) {
        return fail(kBisectAbort, fmt::format("bisect-verdict: {} (exit {}: stops `git bisect run`)", e.what(),
                                              static_cast<int>(kBisectAbort)));
      }
    }
    if (auto code = engine_verbs.dispatch()) return *code;
    return fail(kExitUsage, "no verb given");
  } catch (const UsageError& e) {
    return fail(kExitUsage, e.what());
  } catch (const HarnessError& e) {
    return fail(kExitHarness, e.what());
  } catch (const flakelab::results::StoreError& e) {
    return fail(kExitHarness, fmt::format("results database: {}", e.what()));
  } catch (const std::exception& e) {
    return fail(kExitHarness, fmt::format("internal error: {}", e.what()));
  }
}
