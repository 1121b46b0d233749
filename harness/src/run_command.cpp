#include "flakelab/harness/run_command.h"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "flakelab/harness/cpu_identity.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/interrupt.h"
#include "flakelab/harness/params.h"
#include "flakelab/harness/placement.h"
#include "flakelab/harness/progress.h"
#include "flakelab/harness/seed.h"
#include "flakelab/harness/report_command.h"
#include "flakelab/harness/topology.h"
#include "flakelab/harness/trial_runner.h"
#include "flakelab/results/report.h"
#include "flakelab/results/store.h"

#ifndef FLAKELAB_VERSION
#error "FLAKELAB_VERSION must be defined by the build"
#endif

namespace flakelab::harness {
namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string known_scenarios() {
  std::string out;
  for (const auto& scenario : scenarios::registry()) {
    if (!out.empty()) out += ", ";
    out += scenario->name();
  }
  return out;
}

bool shell_safe(const std::string& arg) {
  if (arg.empty()) return false;
  for (char c : arg) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("_./=,:@%+-").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
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

int run_command(const RunOptions& options) {
  // Validate everything before anything is written.
  scenarios::Scenario* scenario = scenarios::find_scenario(options.scenario);
  if (scenario == nullptr) {
    throw UsageError(fmt::format("unknown scenario '{}' (known: {}; see `flakelab scenarios`)",
                                 options.scenario, known_scenarios()));
  }
  if (options.trials < 1) throw UsageError(fmt::format("-n {}: need at least 1 trial", options.trials));
  constexpr double kMaxTimeout = 1e6;  // ~11.5 days; keeps the deadline arithmetic exact
  if (!(options.timeout_s > 0) || !(options.timeout_s <= kMaxTimeout)) {
    throw UsageError(fmt::format("--timeout {}: need a positive number of seconds, at most {:g}",
                                 options.timeout_s, kMaxTimeout));
  }
  const std::map<std::string, std::string> params = resolve_params(*scenario, options.params);
  const Placement placement = Placement::parse(options.cpus);
  const Topology topology;
  placement.validate(topology);
  const uint64_t seed = options.seed.value_or(random_run_seed());
  const CpuIdentity cpu = detect_cpu_identity();

  results::Store store(options.db);
  const int64_t host_id = store.upsert_host(to_host_info(cpu));
  results::RunInfo run;
  run.scenario = scenario->name();
  run.params = canonical_params(params);
  run.placement = placement.to_string();
  run.seed = seed;
  run.command_line = options.command_line;
  run.version = FLAKELAB_VERSION;
  run.started_at_ms = now_ms();
  const int64_t run_id = store.begin_run(host_id, run);
  fmt::print("run {}: {} x{}  params: {}  placement: {}  seed: {}  db: {}\n", run_id, run.scenario,
             options.trials, run.params.empty() ? "(none)" : run.params, run.placement, seed,
             options.db);
  std::fflush(stdout);

  install_interrupt_handlers();
  TrialRunner runner(topology, placement, TrialOptions{options.timeout_s});
  Progress progress(run.scenario, options.trials, stderr);
  int64_t done = 0;
  int64_t failed = 0;
  for (int64_t index = 0; index < options.trials; ++index) {
    TrialOutcome trial = runner.run(*scenario, params, index, trial_seed(seed, index));
    if (trial.interrupted) break;
    spdlog::debug("trial {}: {} in {:.3f} ms, cpus {}{}{}", index, results::to_string(trial.outcome),
                  trial.duration_ms, trial.cpus_used, trial.message.empty() ? "" : ": ",
                  trial.message);
    results::TrialRecord record;
    record.index = index;
    record.outcome = trial.outcome;
    record.duration_ms = trial.duration_ms;
    record.cpus_used = std::move(trial.cpus_used);
    record.message = std::move(trial.message);
    store.add_trial(run_id, record);
    ++done;
    if (record.outcome != results::Outcome::kPass) ++failed;
    progress.update(done, failed);
  }
  progress.finish(done, failed);
  store.flush();
  store.end_run(run_id, now_ms());

  const results::RunSummary summary = store.summarize(run_id);
  fmt::print("{}", results::format_summary_text(summary));
  std::fflush(stdout);
  if (int sig = interrupt_signal()) {
    fmt::print(stderr, "flakelab: interrupted by signal {} after {} of {} trials\n", sig, done,
               options.trials);
    return 128 + sig;
  }
  return has_failures(summary) ? kExitTrialsFailed : kExitOk;
}

}  // namespace flakelab::harness
