#include "flakelab/harness/run_command.h"

#include <fmt/core.h>
#include <poll.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>

#include "flakelab/harness/campaign_file.h"
#include "flakelab/harness/campaign_runner.h"
#include "flakelab/harness/duration_option.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/interrupt.h"
#include "flakelab/harness/progress.h"
#include "flakelab/harness/seed.h"
#include "flakelab/harness/shard_split.h"
#include "flakelab/harness/topology.h"
#include "flakelab/results/report.h"
#include "flakelab/results/store.h"

namespace flakelab::harness {
namespace {

bool shell_safe(const std::string& arg) {
  if (arg.empty()) return false;
  for (char c : arg) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("_./=,:@%+-").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// --param k=v,... as (name, {value}) pairs; resolve_params checks names and values.
std::vector<std::pair<std::string, std::vector<std::string>>> param_pairs(const std::vector<std::string>& params) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const std::string& assignment : params) {
    const size_t eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError(fmt::format("bad --param '{}': expected NAME=VALUE", assignment));
    }
    out.emplace_back(assignment.substr(0, eq), std::vector<std::string>{assignment.substr(eq + 1)});
  }
  return out;
}

// The command with a relative PROGRAM path ("./my_test", "build/t") made absolute: a
// trial runs in its own directory, and the path means the one it was typed in.
std::vector<std::string> command_from_here(std::vector<std::string> command) {
  std::string& program = command.front();
  if (program.find('/') != std::string::npos && program.front() != '/') {
    program = (std::filesystem::current_path() / program).lexically_normal().string();
  }
  return command;
}

// Waits, after the summary, while --keep-hung trials stay stopped for a debugger.
void hold_kept_trials(const CampaignResult& result) {
  for (const auto& trial : result.kept) {
    std::string pids;
    for (pid_t pid : process_tree(trial->pid())) pids += fmt::format(" {}", pid);
    fmt::print(stderr,
               "flakelab: trial {} hung and is left stopped (--keep-hung): trial process {}, all pids:{}\n"
               "flakelab: attach with `gdb -p PID` (send SIGCONT after detaching to let it run); "
               "Ctrl-C or SIGTERM ends flakelab and kills it\n",
               trial->index(), trial->pid(), pids);
  }
  std::fflush(stderr);
  for (;;) {
    bool all_gone = true;
    for (const auto& trial : result.kept) all_gone = all_gone && trial->kept_exited();
    if (all_gone || interrupt_signal() != 0) return;
    const timespec tick{0, 200 * 1000 * 1000};
    ::ppoll(nullptr, 0, &tick, interrupt_wait_mask());
  }
}

}  // namespace

std::string quote_command_line(int argc, const char* const* argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i > 0) out += ' ';
    if (shell_safe(arg)) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

std::vector<std::string> split_command_line(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\'') {
      const size_t close = text.find('\'', i + 1);
      if (close == std::string_view::npos) throw UsageError(fmt::format("unterminated quote in `{}`", text));
      word.append(text.substr(i + 1, close - i - 1));
      in_word = true;
      i = close;
    } else if (c == '\\' && i + 1 < text.size()) {
      word += text[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

std::string quote_command_line(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  return quote_command_line(static_cast<int>(argv.size()), argv.data());
}

Expect expect_from_string(std::string_view text, std::string_view option) {
  if (text == "pass") return Expect::kPass;
  if (text == "flaky") return Expect::kFlaky;
  throw UsageError(fmt::format("{} '{}': expected pass (every trial must pass) or flaky (failures are reported, "
                               "timeouts and errors are not expected)",
                               option, text));
}

CampaignSpec build_campaign_spec(const RunOptions& options) {
  CampaignSpec spec;
  const bool runs_cmd = std::find(options.scenarios.begin(), options.scenarios.end(), "cmd") != options.scenarios.end();
  if (!options.command.empty() && (options.scenarios.size() != 1 || !runs_cmd)) {
    throw UsageError("`-- PROGRAM ARGS...` is the command of the cmd scenario: `flakelab run cmd [OPTIONS] -- "
                     "PROGRAM ARGS...`");
  }
  if (options.spread && !runs_cmd) {
    throw UsageError("--spread places the threads of a command: it needs the cmd scenario (`flakelab run cmd "
                     "--spread -- PROGRAM ARGS...`)");
  }
  const Expect expect = options.expect ? expect_from_string(*options.expect, "--expect") : Expect::kPass;
  if (!options.campaign.empty()) {
    if (!options.scenarios.empty() || !options.params.empty() || !options.cpus.empty()) {
      throw UsageError("--campaign FILE names its scenarios, params and placements; give no SCENARIO, --param "
                       "or --cpus with it");
    }
    load_campaign_file(options.campaign, spec);
  } else {
    if (options.scenarios.empty()) throw UsageError("nothing to run: give a SCENARIO (see `flakelab scenarios`) or --campaign FILE");
    if (!options.cpus.empty() && options.placement) {
      throw UsageError("--cpus and --placement both say where roles run; give one");
    }
    for (const std::string& scenario : options.scenarios) {
      EntrySpec entry;
      entry.scenario = scenario;
      entry.params = param_pairs(options.params);
      if (scenario == "cmd") {
        if (!options.command.empty()) {
          entry.params.emplace_back("command", std::vector<std::string>{quote_command_line(command_from_here(options.command))});
        }
        if (options.spread) entry.params.emplace_back("spread", std::vector<std::string>{"on"});
      }
      entry.cpus = options.cpus;
      spec.entries.push_back(std::move(entry));
    }
  }
  // Command-line values override the file's, for every entry; they change the campaign's
  // cells, so they are hashed with the file.
  if (!options.campaign.empty()) {
    std::string& o = spec.campaign_overrides;
    if (options.trials) o += fmt::format("trials={};", *options.trials);
    if (options.placement) o += fmt::format("placements={};", *options.placement);
    if (options.noise) o += fmt::format("noise={};", *options.noise);
    if (options.jitter) o += fmt::format("jitter={};", *options.jitter);
    if (options.until_failures) o += fmt::format("until_failures={};", *options.until_failures);
    if (options.timeout_s) o += fmt::format("timeout={};", *options.timeout_s);
    if (options.expect) o += fmt::format("expect={};", *options.expect);
  }
  for (EntrySpec& entry : spec.entries) {
    if (options.trials) entry.trials = *options.trials;
    if (options.placement) entry.placements = *options.placement;
    if (options.noise) entry.noise = *options.noise;
    if (options.jitter) entry.jitter = *options.jitter;
    if (options.until_failures) entry.until_failures = *options.until_failures;
    if (options.timeout_s) entry.timeout_s = *options.timeout_s;
    if (options.expect) entry.expect = expect;
  }
  if (options.db) spec.db = *options.db;
  if (options.seed) spec.seed = *options.seed;
  if (options.jobs) spec.jobs = *options.jobs;
  if (options.share_pus) spec.share_pus = true;
  if (options.timeout_s) spec.timeout_s = *options.timeout_s;
  if (options.max_time) spec.max_time_s = parse_seconds_arg("--max-time", *options.max_time);
  if (options.keep_hung) spec.keep_hung = true;
  if (options.fresh_namespaces) spec.fresh_namespaces = true;
  if (options.keep_artifacts) spec.keep_artifacts = keep_artifacts_from_string(*options.keep_artifacts);
  if (options.artifacts_dir) spec.artifacts_dir = *options.artifacts_dir;
  if (!options.failure.empty()) spec.failure_regexes = options.failure;
  if (!options.ignore.empty()) spec.ignore_regexes = options.ignore;
  spec.topology = options.topology;
  spec.command_line = options.command_line;
  if (options.shard) {
    if (options.campaign.empty()) throw UsageError("--shard splits a campaign: give --campaign FILE");
    parse_shard_option(*options.shard, "--shard", spec.shard_index, spec.shard_count);
    // Every shard must draw the same trials: a random seed per shard would not add up.
    if (!spec.seed) {
      throw UsageError(fmt::format("--shard {}: the shards must share one seed: pass --seed S (the same for every "
                                   "shard) or set `seed` in {}",
                                   *options.shard, options.campaign));
    }
    spec.shard_group = options.shard_group;
  } else if (!options.shard_group.empty()) {
    throw UsageError("--shard-group names a set of shards: give --shard I/N with it");
  }
  return spec;
}

int run_command(const RunOptions& options) {
  // Validate everything before anything is written.
  CampaignSpec spec = build_campaign_spec(options);
  const Topology topology = spec.topology.empty() ? Topology() : Topology::from_spec(spec.topology);
  if (!spec.seed) spec.seed = random_run_seed();
  const CampaignPlan plan = plan_campaign(spec, topology);
  if (options.dry_run || plan.simulated) {
    fmt::print("{}", format_plan(plan));
    if (plan.simulated) {
      fmt::print("simulated: nothing was run or recorded; --topology only plans against another machine\n");
    }
    return kExitOk;
  }

  const bool campaign = !options.campaign.empty() || plan.cells.size() > 1 || !plan.skipped.empty();
  if (campaign) {
    fmt::print("campaign: {} cell{} to run, {} skipped, seed {}, -j {}, db {}{}\n", plan.cells.size(),
               plan.cells.size() == 1 ? "" : "s", plan.skipped.size(), plan.seed, spec.jobs, spec.db,
               plan.shard.empty() ? ""
                                  : fmt::format(", shard {}{} ({} trials), campaign {}", plan.shard,
                                                spec.shard_group.empty() ? "" : " of group " + spec.shard_group,
                                                plan.total_trials(), plan.campaign_hash));
  }
  const std::chrono::milliseconds progress_interval = progress_interval_from_env();
  install_interrupt_handlers();
  RunHooks hooks;
  hooks.on_cell_start = [&](const PlannedCell& cell, size_t /*cell_index*/, int64_t run_id) {
    fmt::print("run {}: {} x{}{}  params: {}  placement: {} ({})  seed: {}  db: {}\n", run_id, cell.scenario->name(),
               cell.trials,
               cell.trials != cell.cell_trials
                   ? fmt::format(" (trials {}..{} of {})", cell.first_index, cell.first_index + cell.trials - 1,
                                 cell.cell_trials)
                   : "",
               cell.params_text.empty() ? "(none)" : cell.params_text, cell.placement.name,
               cell.placement.describe(), plan.seed, spec.db);
    std::fflush(stdout);
  };
  // One line every interval for the whole run, whether stderr is a terminal or a CI log.
  hooks.progress_interval = progress_interval;
  hooks.on_progress = [](const RunProgress& progress) { print_progress(stderr, progress); };
  const CampaignResult result = run_campaign(plan, topology, hooks);

  results::Store store(spec.db);
  int64_t done = 0;
  for (size_t i = 0; i < result.cells.size(); ++i) {
    // Failures grouped by signature (the normalized text and its count), not one line per
    // raw message: a run of 10,000 trials with addresses in its messages stays readable.
    results::TextReportOptions summary_options;
    summary_options.show_messages = false;
    summary_options.show_signatures = true;
    fmt::print("{}{}", i == 0 ? "" : "\n",
               results::format_summary_text(store.summarize(result.cells[i].run_id), summary_options));
    if (!result.cells[i].artifacts_dir.empty()) fmt::print("  artifacts: {}\n", result.cells[i].artifacts_dir);
    done += result.cells[i].trials;
  }
  fmt::print("\n{}", format_cell_table(plan, result));
  const int code = campaign_exit_code(result);
  if (campaign) {
    int unexpected = 0;
    for (const CellResult& cell : result.cells) unexpected += cell.as_expected() ? 0 : 1;
    fmt::print("{}\n", unexpected == 0 ? "every cell behaved as expected"
                                       : fmt::format("{} cell{} did not behave as expected", unexpected,
                                                     unexpected == 1 ? "" : "s"));
  }
  std::fflush(stdout);
  if (!result.kept.empty()) hold_kept_trials(result);
  if (int sig = interrupt_signal()) {
    fmt::print(stderr, "flakelab: interrupted by signal {} after {} of {} trials\n", sig, done, plan.total_trials());
    return 128 + sig;
  }
  return code;
}

}  // namespace flakelab::harness
