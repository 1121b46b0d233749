// flakelab: the command-line entry point. Verbs: cpu, scenarios, run, report, merge,
// and the engine's dump, restore, show.
#include <fmt/core.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "flakelab/harness/cpu_identity.h"
#include "flakelab/harness/engine_commands.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/params.h"
#include "flakelab/harness/run_command.h"
#include "flakelab/harness/report_command.h"
#include "flakelab/results/store.h"

namespace {

using namespace flakelab::harness;

int fail(int code, const std::string& message) {
  std::fflush(stdout);
  fmt::print(stderr, "flakelab: {}\n", message);
  return code;
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
  CLI::App* cpu = app.add_subcommand("cpu", "print the CPU identity (libcpuid) and kernel");
  cpu->add_flag("--json", cpu_json, "print JSON");

  CLI::App* list = app.add_subcommand("scenarios", "list scenarios with their parameters");

  RunOptions run_options;
  uint64_t seed = 0;
  CLI::App* run = app.add_subcommand("run", "run N trials of a scenario, record them, summarize");
  run->add_option("scenario", run_options.scenario, "scenario name, see `flakelab scenarios`")
      ->required();
  run->add_option("-n,--trials", run_options.trials, "number of trials")->capture_default_str();
  run->add_option("--cpus", run_options.cpus,
                  "pin roles to CPUs: victim=A,injector=B[,writer=C] (default: unpinned)");
  run->add_option("-p,--param", run_options.params, "scenario parameter NAME=VALUE (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  run->add_option("--db", run_options.db, "SQLite database file")->capture_default_str();
  CLI::Option* seed_option =
      run->add_option("--seed", seed, "run seed (default: random, printed)");
  run->add_option("--timeout", run_options.timeout_s, "seconds before a trial is killed")
      ->capture_default_str();

  std::string report_db = "flakelab.db";
  int64_t report_run = 0;
  CLI::App* report = app.add_subcommand("report", "print the summary of one run or of all runs");
  report->add_option("--db", report_db, "SQLite database file")->capture_default_str();
  CLI::Option* report_run_option = report->add_option("--run", report_run, "run id (default: all)");
  std::string report_since, report_format = "text", report_output;
  CLI::Option* report_since_option =
      report->add_option("--since", report_since, "only runs started at or after this date (2026-11-23[T20:00:00]) or epoch ms");
  CLI::Option* report_format_option =
      report->add_option("--format", report_format, "text | json | junit | html (the triage report)");
  CLI::Option* report_output_option = report->add_option("-o,--output", report_output, "write the report to FILE");

  std::string merge_output;
  std::vector<std::string> merge_inputs;
  CLI::App* merge = app.add_subcommand("merge", "combine results databases from many machines into one");
  merge->add_option("-o,--output", merge_output, "output database (created or extended)")->required();
  merge->add_option("inputs", merge_inputs, "input databases")->required();

  EngineVerbs engine_verbs(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
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
    if (*list) {
      fmt::print("{}", format_scenario_list());
      return kExitOk;
    }
    if (*run) {
      if (seed_option->count() > 0) run_options.seed = seed;
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
    if (*merge) {
      return merge_command(merge_output, merge_inputs);
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
