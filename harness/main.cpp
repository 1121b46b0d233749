// flakelab: the command-line entry point. Verbs: cpu, topo, scenarios, run, report,
// compare, merge, gate, bisect-verdict, and the engine's dump, restore, show.
#include <fmt/core.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "flakelab/harness/bisect_command.h"
#include "flakelab/harness/cli_verb.h"
#include "flakelab/harness/compare_command.h"
#include "flakelab/harness/gate_command.h"
#include "flakelab/harness/cpu_identity.h"
#include "flakelab/harness/duration_option.h"
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

  // Each verb declares its options only when the command line uses it (add_verb, cli_verb.h).
  bool cpu_json = false;
  CLI::App* cpu = add_verb(app, "cpu", "print the CPU identity (libcpuid, flakelab's table) and kernel", [&](CLI::App& verb) {
    verb.add_flag("--json", cpu_json, "print JSON");
  });

  bool topo_json = false, topo_share = false;
  int topo_jobs = 1;
  std::string topo_spec;
  CLI::App* topo = add_verb(app, "topo", "print the topology (hwloc) and the placements it offers", [&](CLI::App& verb) {
    verb.add_flag("--json", topo_json, "print JSON");
    verb.add_option("--topology", topo_spec, "plan against an hwloc XML file or a synthetic description");
    verb.add_option("-j,--jobs", topo_jobs, "plan placements for this many workers")->capture_default_str();
    verb.add_flag("--share-pus", topo_share, "let workers share PUs");
  });

  CLI::App* list = app.add_subcommand("scenarios", "list scenarios with their parameters and jitter points");

  RunOptions run_options;
  int64_t trials = 0, until_failures = 0;
  uint64_t seed = 0;
  int jobs = 1;
  std::string placement, timeout, db, max_time, keep_artifacts, artifacts_dir, noise, jitter, shard;
  CLI::Option *trials_opt = nullptr, *placement_opt = nullptr, *db_opt = nullptr, *seed_opt = nullptr,
              *jobs_opt = nullptr, *timeout_opt = nullptr, *max_time_opt = nullptr, *until_opt = nullptr,
              *keep_opt = nullptr, *artifacts_opt = nullptr, *noise_opt = nullptr, *jitter_opt = nullptr,
              *shard_opt = nullptr;
  CLI::App* run = add_verb(app, "run", "run trials of scenarios (or a campaign file), record them, summarize", [&](CLI::App& verb) {
    verb.add_option("scenarios", run_options.scenarios, "scenario names, see `flakelab scenarios`");
    verb.add_option("--campaign", run_options.campaign, "TOML campaign file (scenarios, parameter grids, placements)");
    trials_opt = verb.add_option("-n,--trials", trials, "trials per cell (default 100)");
    verb.add_option("--cpus", run_options.cpus, "pin roles to CPUs: victim=A,injector=B[,writer=C] (placement 'cpus')");
    placement_opt = verb.add_option(
        "--placement", placement,
        "same-pu, smt-siblings, same-core, same-l3, cross-l3, cross-numa, unpinned, random; a comma list, or all "
        "(default unpinned)");
    verb.add_option("-p,--param", run_options.params, "scenario parameter NAME=VALUE (repeatable)")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    db_opt = verb.add_option("--db", db, "SQLite database file (default flakelab.db)");
    seed_opt = verb.add_option("--seed", seed, "run seed (default: random, printed)");
    jobs_opt = verb.add_option("-j,--jobs", jobs, "workers running trials at once, each on its own PUs");
    verb.add_flag("--share-pus", run_options.share_pus, "let pinned workers share PUs");
    timeout_opt = verb.add_option("--timeout", timeout, "how long a trial may take before SIGABRT, then SIGKILL: a duration (default 10s)");
    max_time_opt = verb.add_option("--max-time", max_time, "wall-time budget of the whole run: a duration such as 90s, 10m, 1h");
    until_opt = verb.add_option("--until-failures", until_failures, "stop a cell after K failing trials");
    verb.add_flag("--keep-hung", run_options.keep_hung,
                  "leave a timed-out trial stopped (SIGSTOP) for a debugger, print its pids, and wait");
    verb.add_flag("--fresh-namespaces", run_options.fresh_namespaces,
                  "new pid/mount/net namespaces for every trial (default: one set per worker, cleaned between trials)");
    keep_opt = verb.add_option("--keep-artifacts", keep_artifacts, "keep trial directories: failed (default), always, never");
    artifacts_opt = verb.add_option("--artifacts-dir", artifacts_dir, "where kept trial directories go (default: flakelab-artifacts beside the database)");
    verb.add_option("--failure", run_options.failure, "a fail whose message matches none of these REGEXes is an error")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    verb.add_option("--ignore", run_options.ignore, "a non-pass trial whose message matches REGEX is recorded as pass")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    noise_opt = verb.add_option("--noise", noise, "noise processes: KIND@WHERE,... (spin|cache|syscall @ smt-sibling|same-l3|other-l3)");
    jitter_opt = verb.add_option("--jitter", jitter, "random delays at the scenario's points: MAX or POINT=MAX,... (e.g. 500us)");
    verb.add_option("--topology", run_options.topology, "plan against another machine (hwloc XML file or synthetic description): a dry run");
    verb.add_flag("--dry-run", run_options.dry_run, "print the plan (cells, PUs per worker, skipped placements) and exit");
    shard_opt = verb.add_option("--shard", shard, "run shard I of N of the campaign (I/N; needs --campaign and a seed)");
    verb.add_option("--shard-group", run_options.shard_group, "which sharded execution this shard belongs to (e.g. a CI runner label)");
  });

  std::string report_db = "flakelab.db";
  int64_t report_run = 0;
  std::string report_since, report_format = "text", report_output;
  CLI::Option *report_run_option = nullptr, *report_since_option = nullptr, *report_format_option = nullptr,
              *report_output_option = nullptr;
  CLI::App* report = add_verb(app, "report", "print the summary of one run or of all runs", [&](CLI::App& verb) {
    verb.add_option("--db", report_db, "SQLite database file")->capture_default_str();
    report_run_option = verb.add_option("--run", report_run, "run id (default: all)");
    report_since_option =
        verb.add_option("--since", report_since, "only runs started at or after this date (2026-11-23[T20:00:00]) or epoch ms");
    report_format_option =
        verb.add_option("--format", report_format, "text | json | junit | html | markdown (the triage report)");
    report_output_option = verb.add_option("-o,--output", report_output, "write the report to FILE");
  });

  CompareRequest compare_request;
  CLI::App* compare = add_verb(app, "compare", "two runs' cells side by side, with Fisher's exact test", [&](CLI::App& verb) {
    verb.add_option("run_a", compare_request.run_a, "run id (stands for every cell of its `flakelab run`)")->required();
    verb.add_option("run_b", compare_request.run_b, "run id to compare with")->required();
    verb.add_option("--db", compare_request.db_a, "SQLite database file")->capture_default_str();
    verb.add_option("--db-b", compare_request.db_b, "database of RUN_B (default: --db)");
  });

  std::string merge_output;
  std::vector<std::string> merge_inputs;
  bool merge_require_complete = false;
  CLI::App* merge = add_verb(app, "merge", "combine results databases from many machines into one", [&](CLI::App& verb) {
    verb.add_option("-o,--output", merge_output, "output database (created or extended)")->required();
    verb.add_option("inputs", merge_inputs, "input databases")->required();
    verb.add_flag("--require-complete", merge_require_complete, "exit 1 when a sharded campaign misses shards");
  });

  GateRequest gate_request;
  std::string gate_baseline;
  CLI::Option* gate_baseline_opt = nullptr;
  CLI::App* gate = add_verb(app, "gate", "the nightly verdict: shards, must-not-fail cells, rates and signatures against a baseline", [&](CLI::App& verb) {
    verb.add_option("--db", gate_request.db, "results database to judge (e.g. the merged nightly)")->required();
    gate_baseline_opt = verb.add_option("--baseline", gate_baseline, "baseline database (e.g. the last good nightly)");
    verb.add_option("--alpha", gate_request.alpha, "family-wise significance level of the rate tests (Holm)")->capture_default_str();
    verb.add_option("--confidence", gate_request.confidence, "confidence of the zero-failure upper bounds")->capture_default_str();
    verb.add_flag("--pool-cpus", gate_request.pool_cpus, "match cells across CPU models");
    verb.add_option("--ignore-param", gate_request.ignore_params, "leave parameter NAME out of the cell key (repeatable)")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  });

  BisectRequest bisect_request;
  double bisect_bad_rate = 0;
  std::string bisect_timeout = "10s";
  uint64_t bisect_seed = 0;
  CLI::Option *bisect_bad_opt = nullptr, *bisect_seed_opt = nullptr;
  CLI::App* bisect = add_verb(
      app, "bisect-verdict", "for `git bisect run`: trials until good (0), bad (1) or undecided (125) against a baseline rate",
      [&](CLI::App& verb) {
        verb.add_option("scenario", bisect_request.scenario, "scenario name")->required();
        verb.add_option("-p,--param", bisect_request.params, "scenario parameter NAME=VALUE (repeatable)")
            ->expected(1)
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
        verb.add_option("--baseline-rate", bisect_request.baseline_rate, "failure rate of a good commit, 0..1")->required();
        bisect_bad_opt = verb.add_option("--bad-rate", bisect_bad_rate, "failure rate that counts as bad (default max(2P, P+0.05))");
        verb.add_option("--confidence", bisect_request.confidence, "1 - the error probability each way")->capture_default_str();
        verb.add_option("--max-trials", bisect_request.max_trials, "trial budget; undecided after it: skip (125)")->capture_default_str();
        verb.add_option("--placement", bisect_request.placement, "one placement")->capture_default_str();
        verb.add_option("--db", bisect_request.db, "SQLite database file")->capture_default_str();
        bisect_seed_opt = verb.add_option("--seed", bisect_seed, "run seed (default: random, printed)");
        verb.add_option("--timeout", bisect_timeout, "per-trial limit: a duration")->capture_default_str();
      });

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
      if (timeout_opt->count() > 0) run_options.timeout_s = parse_seconds_arg("--timeout", timeout);
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
        bisect_request.timeout_s = parse_seconds_arg("--timeout", bisect_timeout);
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
