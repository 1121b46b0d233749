#include "flakelab/harness/bisect_command.h"

#include <fmt/core.h>

#include "flakelab/harness/campaign.h"
#include "flakelab/harness/campaign_runner.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/interrupt.h"
#include "flakelab/harness/seed.h"
#include "flakelab/harness/topology.h"
#include "flakelab/results/rate_format.h"
#include "flakelab/results/sequential_test.h"
#include "flakelab/results/store.h"

namespace flakelab::harness {
namespace {

// Errors (the harness could not run a trial) are no evidence either way; when they are
// this common the commit cannot be judged.
bool too_many_errors(int64_t errors, int64_t done) { return errors >= 10 && errors * 10 >= done; }

}  // namespace

int bisect_command(const BisectRequest& request) {
  if (!(request.baseline_rate >= 0 && request.baseline_rate < 1)) {
    throw UsageError(fmt::format("--baseline-rate {}: need 0 <= P < 1", request.baseline_rate));
  }
  const double bad_rate = request.bad_rate.value_or(results::default_bad_rate(request.baseline_rate));
  if (!(bad_rate > request.baseline_rate && bad_rate <= 1)) {
    throw UsageError(fmt::format("--bad-rate {}: need baseline rate {} < bad rate <= 1", bad_rate, request.baseline_rate));
  }
  if (!(request.confidence >= 0.5 && request.confidence < 1)) {
    throw UsageError(fmt::format("--confidence {}: need 0.5 <= C < 1", request.confidence));
  }
  if (request.max_trials < 1) throw UsageError(fmt::format("--max-trials {}: need at least 1", request.max_trials));
  const double error_rate = 1 - request.confidence;
  const results::Sprt sprt(request.baseline_rate, bad_rate, std::min(error_rate, 0.4999), std::min(error_rate, 0.4999));

  CampaignSpec spec;
  EntrySpec entry;
  entry.scenario = request.scenario;
  for (const std::string& assignment : request.params) {
    const size_t eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError(fmt::format("bad --param '{}': expected NAME=VALUE", assignment));
    entry.params.emplace_back(assignment.substr(0, eq), std::vector<std::string>{assignment.substr(eq + 1)});
  }
  entry.placements = request.placement;
  entry.trials = request.max_trials;
  entry.expect = Expect::kFlaky;  // failures are what is measured, not a fault of the run
  spec.entries.push_back(entry);
  spec.db = request.db;
  spec.seed = request.seed ? *request.seed : random_run_seed();
  spec.timeout_s = request.timeout_s;
  spec.command_line = request.command_line;
  const Topology topology;
  const CampaignPlan plan = plan_campaign(spec, topology);
  if (plan.cells.size() != 1) {
    throw UsageError(fmt::format("bisect-verdict judges one cell; --placement {} gives {}", request.placement,
                                 plan.cells.size()));
  }
  fmt::print("bisect-verdict: {} {}  placement {}  seed {}: baseline rate {:g}%, bad rate {:g}%, "
             "errors at most {:g}% each way, at most {} trials\n",
             request.scenario, plan.cells[0].params_text.empty() ? "-" : plan.cells[0].params_text,
             plan.cells[0].placement.name, plan.seed, 100 * request.baseline_rate, 100 * bad_rate, 100 * error_rate,
             request.max_trials);
  std::fflush(stdout);

  install_interrupt_handlers();
  results::SprtVerdict verdict = results::SprtVerdict::kUndecided;
  bool errored = false;
  RunHooks hooks;
  hooks.on_trial = [&](const CellProgress& p) {
    const int64_t judged = p.done - p.errors;
    verdict = sprt.verdict(p.failing, judged);
    errored = too_many_errors(p.errors, p.done);
    return verdict == results::SprtVerdict::kUndecided && !errored;
  };
  const CampaignResult result = run_campaign(plan, topology, hooks);
  if (int sig = interrupt_signal()) {
    fmt::print(stderr, "flakelab: bisect-verdict interrupted by signal {}\n", sig);
    return 128 + sig;
  }
  if (result.cells.empty()) throw HarnessError("bisect-verdict: the run recorded no cell");
  const CellResult& cell = result.cells[0];
  const int64_t judged = cell.trials - cell.errors;
  const std::string counts =
      judged > 0 ? fmt::format("{} failing of {} trials ({}, 95% Wilson {}){}", cell.failing(), judged,
                               results::format_rate(cell.failing(), judged),
                               results::format_interval(results::wilson_interval(cell.failing(), judged), ".."),
                               cell.errors > 0 ? fmt::format(", {} errors not counted", cell.errors) : "")
                 : fmt::format("no judged trial ({} errors)", cell.errors);
  const std::string where = fmt::format("run {} in {}", cell.run_id, request.db);
  if (errored) {
    fmt::print("skip: {} of {} trials errored; the scenario cannot be judged at this commit ({}; {})\n", cell.errors,
               cell.trials, counts, where);
    return kBisectSkip;
  }
  switch (verdict) {
    case results::SprtVerdict::kGood:
      fmt::print("good: {}: consistent with the baseline rate {:g}% rather than {:g}% ({})\n", counts,
                 100 * request.baseline_rate, 100 * bad_rate, where);
      return kBisectGood;
    case results::SprtVerdict::kBad:
      fmt::print("bad: {}: above the baseline rate {:g}% (consistent with {:g}% or more) ({})\n", counts,
                 100 * request.baseline_rate, 100 * bad_rate, where);
      return kBisectBad;
    case results::SprtVerdict::kUndecided: break;
  }
  fmt::print("skip: undecided after {}: between the baseline rate {:g}% and the bad rate {:g}% (raise --max-trials "
             "to decide) ({})\n",
             counts, 100 * request.baseline_rate, 100 * bad_rate, where);
  return kBisectSkip;
}

}  // namespace flakelab::harness
