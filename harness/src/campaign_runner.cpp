#include "flakelab/harness/campaign_runner.h"

#include <fmt/core.h>
#include <sched.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>

#include "flakelab/harness/cpu_identity.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/interrupt.h"
#include "flakelab/harness/noise.h"
#include "flakelab/harness/run_temp_root.h"
#include "flakelab/harness/seed.h"
#include "flakelab/harness/topology.h"
#include "flakelab/harness/trial_dir.h"
#include "flakelab/results/rate_format.h"
#include "flakelab/results/stats.h"
#include "flakelab/results/store.h"
#include "flakelab/results/verdict.h"

#ifndef FLAKELAB_VERSION
#error "FLAKELAB_VERSION must be defined by the build"
#endif

namespace flakelab::harness {
namespace {

using Clock = std::chrono::steady_clock;
using results::Outcome;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string new_invocation_id() {
  std::random_device device;
  const uint64_t hi = (static_cast<uint64_t>(device()) << 32) ^ device();
  const uint64_t lo = (static_cast<uint64_t>(device()) << 32) ^ device();
  return fmt::format("{:016x}{:016x}", hi, lo);
}

std::string artifacts_root(const CampaignSpec& spec) {
  if (!spec.artifacts_dir.empty()) return spec.artifacts_dir;
  const std::filesystem::path db(spec.db);
  const std::filesystem::path parent = db.has_parent_path() ? db.parent_path() : std::filesystem::path(".");
  return (parent / "flakelab-artifacts").string();
}

bool matches_any(const std::vector<std::regex>& patterns, const std::string& message) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::regex& re) { return std::regex_search(message, re); });
}

// With a single worker, the harness waits for each trial on the CPU the trial's host runs
// on (its injector's): the host's report then wakes it without a cross-CPU interrupt,
// which costs tens of microseconds in a KVM guest whose other vCPU idles (a no-op trial:
// 0.28 ms with the harness there, 0.48 ms with it on the other vCPU). The harness is
// idle while the trial runs. New hosts (and noise processes) are forked with the
// harness's own mask, never the pinned one.
class HarnessColocation {
 public:
  HarnessColocation() { known_ = ::sched_getaffinity(0, sizeof own_, &own_) == 0; }
  ~HarnessColocation() { release(); }
  HarnessColocation(const HarnessColocation&) = delete;
  HarnessColocation& operator=(const HarnessColocation&) = delete;

  void pin(std::optional<int> cpu) {
    if (!known_ || !cpu || *cpu < 0 || *cpu >= CPU_SETSIZE || !CPU_ISSET(*cpu, &own_)) return release();
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(*cpu, &one);
    pinned_ = ::sched_setaffinity(0, sizeof one, &one) == 0;
  }
  void release() {
    if (pinned_) ::sched_setaffinity(0, sizeof own_, &own_);
    pinned_ = false;
  }

 private:
  cpu_set_t own_;
  bool known_ = false;
  bool pinned_ = false;
};

// Calls RunHooks::on_progress every progress_interval of the run's one clock.
class ProgressClock {
 public:
  ProgressClock(const RunHooks& hooks, RunProgress& progress, Clock::time_point begin,
                std::optional<Clock::time_point> deadline)
      : hooks_(hooks), progress_(progress), begin_(begin), deadline_(deadline) {
    if (hooks.on_progress && hooks.progress_interval.count() > 0) next_ = begin + hooks.progress_interval;
  }

  Clock::time_point next() const { return next_; }

  void tick(Clock::time_point now) {
    if (now < next_) return;
    progress_.elapsed_s = std::chrono::duration<double>(now - begin_).count();
    if (deadline_) progress_.budget_left_s = std::max(0.0, std::chrono::duration<double>(*deadline_ - now).count());
    hooks_.on_progress(progress_);
    while (next_ <= now) next_ += hooks_.progress_interval;  // a late tick skips, it does not bunch
  }

 private:
  const RunHooks& hooks_;
  RunProgress& progress_;
  Clock::time_point begin_;
  std::optional<Clock::time_point> deadline_;
  Clock::time_point next_ = Clock::time_point::max();
};

// One worker: its trial in flight, or the host that ran its last one (trial_host.h).
struct Slot {
  std::unique_ptr<TrialHost> host;
  std::unique_ptr<RunningTrial> trial;
  std::string temp_dir;
  Placement placement;
};

class CellRun {
 public:
  CellRun(const CampaignPlan& plan, const Topology& topology, const RunHooks& hooks, results::Store& store,
          CampaignResult& campaign, RunProgress& run_progress, ProgressClock& progress_clock,
          const std::string& temp_root, size_t index, int64_t run_id, std::optional<Clock::time_point> deadline)
      : plan_(plan),
        cell_(plan.cells[index]),
        topology_(topology),
        hooks_(hooks),
        store_(store),
        campaign_(campaign),
        run_progress_(run_progress),
        progress_clock_(progress_clock),
        temp_root_(temp_root),
        index_(index),
        deadline_(deadline),
        runner_(topology, TrialOptions{cell_.timeout_s, 1.0, plan.spec.keep_hung, !plan.spec.fresh_namespaces}),
        next_(cell_.first_index) {
    result_.plan = &cell_;
    result_.run_id = run_id;
    if (plan.spec.keep_artifacts != KeepArtifacts::kNever) {
      artifacts_dir_ = fmt::format("{}/{}/cell-{}", artifacts_root(plan.spec), campaign.invocation, index + 1);
    }
  }

  CellResult run() {
    start_ = Clock::now();
    start_noise();
    const size_t workers = std::max(cell_.placement.workers.size(), cell_.placement.pools.size());
    single_worker_ = workers == 1;
    std::vector<Slot> slots(workers);
    for (;;) {
      for (size_t w = 0; w < workers; ++w) {
        if (!slots[w].trial && can_start()) start_trial(slots[w], w);
      }
      std::vector<RunningTrial*> active;
      for (Slot& slot : slots) {
        if (slot.trial) active.push_back(slot.trial.get());
      }
      if (active.empty()) break;
      const bool woke = wait_for_trials(active, wake_time());
      // Finished trials reach the disk within the store's max pending age, also while
      // the next trial runs: a killed run loses only the last moment's.
      store_.flush_if_due();
      progress_clock_.tick(Clock::now());
      if (!woke) {
        int sig = interrupt_signal();
        if (sig != 0 || (hooks_.should_stop && hooks_.should_stop())) {
          campaign_.interrupted_by = sig;
          if (sig == 0) campaign_.stopped_by_hook = true;
          stop("interrupted");
          abandon(slots);
          break;
        }
        continue;
      }
      for (Slot& slot : slots) {
        if (slot.trial && slot.trial->done()) record(slot);
        if (stop_all_) break;
      }
      if (stop_all_ && !stopped_by_hung_) {
        abandon(slots);  // the hook asked to stop: trials in flight are not judged
        break;
      }
    }
    for (const NoiseProcess& noise : noise_) check_noise(noise);
    if (deadline_ && result_.stopped_by.empty() && next_ < end_index() && Clock::now() >= *deadline_) {
      result_.stopped_by = "max-time";
    }
    if (cell_.until_failures && static_cast<int64_t>(failing_indices_.size()) >= *cell_.until_failures) {
      std::sort(failing_indices_.begin(), failing_indices_.end());
      result_.trials_needed = failing_indices_[static_cast<size_t>(*cell_.until_failures - 1)] + 1;
      if (result_.stopped_by.empty() && next_ < end_index()) result_.stopped_by = "until-failures";
    }
    if (!failing_indices_.empty()) {
      result_.first_failing_index = *std::min_element(failing_indices_.begin(), failing_indices_.end());
    }
    result_.wall_s = std::chrono::duration<double>(Clock::now() - start_).count();
    if (kept_any_) result_.artifacts_dir = artifacts_dir_;
    return result_;
  }

  bool stop_all() const { return stop_all_; }

 private:
  int64_t end_index() const { return cell_.first_index + cell_.trials; }

  // The next moment the loop has something to do besides a trial's own events: start no
  // more trials (--max-time), write pending trials, print progress.
  Clock::time_point wake_time() const {
    Clock::time_point wake = std::min(store_.flush_due().value_or(Clock::time_point::max()), progress_clock_.next());
    if (deadline_ && *deadline_ > Clock::now()) wake = std::min(wake, *deadline_);
    return wake;
  }

  void stop(const char* why) {
    stop_all_ = true;
    if (result_.stopped_by.empty()) result_.stopped_by = why;
  }

  bool can_start() const {
    if (stop_all_ || next_ >= end_index()) return false;
    if (cell_.until_failures && static_cast<int64_t>(failing_indices_.size()) >= *cell_.until_failures) return false;
    if (deadline_ && Clock::now() >= *deadline_) return false;
    return true;
  }

  void start_noise() {
    for (const Placement& placement : cell_.placement.workers) {
      for (const NoiseThread& thread : placement.noise()) {
        const bool running = std::any_of(noise_.begin(), noise_.end(),
                                         [&](const NoiseProcess& n) { return n.thread() == thread; });
        if (!running) noise_.emplace_back(topology_, thread);  // shared PUs share their noise
      }
    }
  }

  void check_noise(const NoiseProcess& noise) const {
    if (!noise.alive()) {
      throw HarnessError(fmt::format("noise {} pid {} on CPU {} died during run {}", to_string(noise.thread().kind),
                                     noise.pid(), noise.thread().cpu, result_.run_id));
    }
  }

  void start_trial(Slot& slot, size_t worker) {
    const int64_t index = next_++;
    TrialRequest request;
    request.scenario = cell_.scenario;
    request.params = &cell_.params;
    request.index = index;
    request.seed = trial_seed(plan_.seed, index);
    request.placement = cell_.placement.for_trial(static_cast<int>(worker), request.seed);
    slot.placement = request.placement;
    request.jitter = &cell_.jitter;
    request.failure_regexes = &plan_.spec.failure_regexes;
    slot.temp_dir = fmt::format("{}/cell{}-trial{}", temp_root_, index_ + 1, index);
    make_dir(slot.temp_dir);
    request.temp_dir = slot.temp_dir;
    if (!slot.host) colocation_.release();  // a new host gets the harness's own CPUs
    slot.trial = runner_.start(request, std::move(slot.host));
    if (single_worker_) colocation_.pin(request.placement.cpu_of(scenarios::Role::kInjector));
  }

  // Kills the trials in flight without recording them.
  void abandon(std::vector<Slot>& slots) {
    for (Slot& slot : slots) {
      if (!slot.trial) continue;
      slot.trial->interrupt();
      slot.trial->finish();
      slot.trial.reset();
      remove_tree(slot.temp_dir);
    }
  }

  void keep_artifacts(const Slot& slot, const results::TrialRecord& record, const std::string& original_message,
                      uint64_t seed, std::string& kept_at) {
    const bool keep = plan_.spec.keep_artifacts == KeepArtifacts::kAlways ||
                      (plan_.spec.keep_artifacts == KeepArtifacts::kFailed && record.outcome != Outcome::kPass) ||
                      (plan_.spec.keep_artifacts == KeepArtifacts::kFailed && original_message != record.message);
    if (!keep) {
      remove_tree(slot.temp_dir);
      return;
    }
    std::ofstream info(slot.temp_dir + "/trial.txt");
    info << fmt::format(
        "scenario: {}\nparams: {}\nplacement: {}\nrun: {}\nindex: {}\nseed: {} (run seed {})\noutcome: {}\n"
        "duration_ms: {:.3f}\ncpus_used: {}\nmessage: {}\n",
        cell_.scenario->name(), cell_.params_text, cell_.placement.name, result_.run_id, record.index, seed,
        plan_.seed, results::to_string(record.outcome), record.duration_ms, record.cpus_used, original_message);
    info.close();
    kept_at = fmt::format("{}/trial-{}", artifacts_dir_, record.index);
    move_tree(slot.temp_dir, kept_at);
    kept_any_ = true;
  }

  void record(Slot& slot) {
    std::unique_ptr<RunningTrial> trial = std::move(slot.trial);
    TrialOutcome outcome = trial->finish();
    slot.host = trial->take_host();
    const int64_t index = trial->index();
    if (outcome.kept_pids.empty()) trial.reset();  // a host not taken back is reaped now
    const uint64_t seed = trial_seed(plan_.seed, index);
    results::TrialRecord record;
    record.index = index;
    record.outcome = outcome.outcome;
    record.duration_ms = outcome.duration_ms;
    record.cpus_used = std::move(outcome.cpus_used);
    // Noise processes were pinned and read back when they started (NoiseProcess).
    for (const NoiseThread& noise : slot.placement.noise()) {
      record.cpus_used += fmt::format("{}noise={}", record.cpus_used.empty() ? "" : ",", noise.cpu);
    }
    const std::string original = outcome.message;
    record.message = std::move(outcome.message);
    if (record.outcome != Outcome::kPass && matches_any(plan_.ignore, record.message)) {
      record.outcome = Outcome::kPass;
      record.message = "ignored (--ignore): " + record.message;
      ++result_.ignored;
    } else if (record.outcome == Outcome::kFail && !plan_.failure.empty() &&
               !matches_any(plan_.failure, record.message)) {
      record.outcome = Outcome::kError;
      record.message = "not a --failure match: " + record.message;
    }
    spdlog::debug("run {} trial {}: {} in {:.3f} ms, cpus {}{}{}", result_.run_id, index,
                  results::to_string(record.outcome), record.duration_ms, record.cpus_used,
                  record.message.empty() ? "" : ": ", record.message);
    if (!outcome.kept_pids.empty()) {
      // The hung trial's directory stays where its stopped processes work.
      record.artifact_path = slot.temp_dir;
      campaign_.kept.push_back(std::move(trial));
      stopped_by_hung_ = true;
      stop("hung trial kept");
    } else {
      if (record.outcome != Outcome::kPass) record.log_excerpt = log_excerpt(slot.temp_dir);
      keep_artifacts(slot, record, original, seed, record.artifact_path);
    }
    switch (record.outcome) {
      case Outcome::kPass: ++result_.passes; break;
      case Outcome::kFail: ++result_.failures; break;
      case Outcome::kTimeout: ++result_.timeouts; break;
      case Outcome::kError: ++result_.errors; break;
    }
    ++result_.trials;
    ++run_progress_.done;
    if (record.outcome == Outcome::kFail || record.outcome == Outcome::kTimeout) {
      failing_indices_.push_back(index);
      ++run_progress_.failing;
    }
    if (record.outcome == Outcome::kError) ++run_progress_.errors;
    store_.add_trial(result_.run_id, record);
    for (const NoiseProcess& noise : noise_) check_noise(noise);
    if (hooks_.on_trial) {
      CellProgress progress;
      progress.cell = index_;
      progress.cells = plan_.cells.size();
      progress.plan = &cell_;
      progress.run_id = result_.run_id;
      progress.done = result_.trials;
      progress.total = cell_.trials;
      progress.failing = result_.failing();
      progress.errors = result_.errors;
      progress.elapsed_s = std::chrono::duration<double>(Clock::now() - start_).count();
      if (deadline_) progress.budget_s = std::chrono::duration<double>(*deadline_ - Clock::now()).count();
      if (!hooks_.on_trial(progress)) {
        campaign_.stopped_by_hook = true;
        stop("stopped");
      }
    }
  }

  const CampaignPlan& plan_;
  const PlannedCell& cell_;
  const Topology& topology_;
  const RunHooks& hooks_;
  results::Store& store_;
  CampaignResult& campaign_;
  RunProgress& run_progress_;
  ProgressClock& progress_clock_;
  const std::string& temp_root_;
  size_t index_;
  std::optional<Clock::time_point> deadline_;
  Clock::time_point start_;
  TrialRunner runner_;
  std::vector<NoiseProcess> noise_;
  HarnessColocation colocation_;
  bool single_worker_ = false;
  CellResult result_;
  std::string artifacts_dir_;
  int64_t next_;  // the next trial index to start
  std::vector<int64_t> failing_indices_;
  bool stop_all_ = false;
  bool stopped_by_hung_ = false;
  bool kept_any_ = false;
};

}  // namespace

bool CellResult::as_expected() const {
  results::Counts counts;
  counts.trials = trials;
  counts.failures = failures;
  counts.timeouts = timeouts;
  counts.errors = errors;
  counts.passes = passes;
  results::ExpectedCounts by;
  by.add(plan->expect == Expect::kPass ? results::Expectation::kPass : results::Expectation::kFlaky, counts);
  return results::as_expected(results::verdict_of(by));
}

CampaignResult run_campaign(const CampaignPlan& plan, const Topology& topology, const RunHooks& hooks) {
  if (plan.simulated || !topology.is_this_system()) {
    throw HarnessError(fmt::format("refusing to run trials on a simulated topology ({}): it can only be planned",
                                   plan.topology_source));
  }
  CampaignResult campaign;
  campaign.invocation = new_invocation_id();
  const CpuIdentity cpu = detect_cpu_identity();
  results::Store store(plan.spec.db);
  store.check_integrity();  // a damaged file is refused, not appended to
  const int64_t host_id = store.upsert_host(to_host_info(cpu));
  // Placements this machine cannot offer are recorded, so reports say "skipped, because".
  for (const PlannedCell& cell : plan.skipped) {
    results::SkippedCell skipped;
    skipped.invocation = campaign.invocation;
    skipped.scenario = cell.scenario->name();
    skipped.params = cell.params_text;
    skipped.placement = cell.placement.name;
    skipped.expect = to_string(cell.expect);
    skipped.reason = cell.placement.skip_reason;
    skipped.recorded_at_ms = now_ms();
    store.add_skipped_cell(host_id, skipped);
  }
  const RunTempRoot temp_root;
  const auto begin = Clock::now();
  std::optional<Clock::time_point> campaign_deadline;
  if (plan.spec.max_time_s) {
    campaign_deadline = begin + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(*plan.spec.max_time_s));
  }
  RunProgress run_progress;
  run_progress.cells = plan.cells.size();
  run_progress.total = plan.total_trials();
  ProgressClock progress_clock(hooks, run_progress, begin, campaign_deadline);
  for (size_t k = 0; k < plan.cells.size(); ++k) {
    const PlannedCell& cell = plan.cells[k];
    // Each cell gets a fair share of what is left of --max-time; unused time rolls over.
    std::optional<Clock::time_point> deadline;
    if (campaign_deadline) {
      const auto now = Clock::now();
      deadline = now + (*campaign_deadline - now) / static_cast<long>(plan.cells.size() - k);
    }
    results::RunInfo run;
    run.scenario = cell.scenario->name();
    run.params = cell.params_text;
    run.placement = cell.placement.name;
    run.seed = plan.seed;
    run.command_line = plan.spec.command_line;
    run.version = FLAKELAB_VERSION;
    run.started_at_ms = now_ms();
    run.cell = cell.label();
    if (!plan.campaign_hash.empty()) run.campaign_hash = plan.campaign_hash;
    run.expect = to_string(cell.expect);
    run.planned_trials = cell.trials;
    if (!plan.shard.empty()) {
      run.shard = plan.shard;
      if (!plan.spec.shard_group.empty()) run.shard_group = plan.spec.shard_group;
    }
    run.invocation = campaign.invocation;
    if (plan.spec.keep_artifacts != KeepArtifacts::kNever) {
      run.artifacts_dir = fmt::format("{}/{}/cell-{}", artifacts_root(plan.spec), campaign.invocation, k + 1);
    }
    const int64_t run_id = store.begin_run(host_id, run);
    if (hooks.on_cell_start) hooks.on_cell_start(cell, k, run_id);
    CellRun cell_run(plan, topology, hooks, store, campaign, run_progress, progress_clock, temp_root.path(), k, run_id,
                     deadline);
    CellResult result;
    try {
      result = cell_run.run();
    } catch (...) {
      store.flush();
      store.end_run(run_id, now_ms());
      throw;
    }
    store.flush();
    store.end_run(run_id, now_ms());
    campaign.cells.push_back(result);
    ++run_progress.cells_done;
    run_progress.total -= cell.trials - result.trials;  // stopped early: those will not run
    if (hooks.on_cell_end) hooks.on_cell_end(campaign.cells.back());
    if (cell_run.stop_all()) break;
  }
  return campaign;
}

int campaign_exit_code(const CampaignResult& result) {
  for (const CellResult& cell : result.cells) {
    if (!cell.as_expected()) return kExitTrialsFailed;
  }
  return result.kept.empty() ? kExitOk : kExitTrialsFailed;
}

std::string format_cell_table(const CampaignPlan& plan, const CampaignResult& result) {
  std::string out;
  size_t width = 4;
  for (const CellResult& cell : result.cells) width = std::max(width, cell.plan->label().size());
  for (const PlannedCell& cell : plan.skipped) width = std::max(width, cell.label().size());
  out += fmt::format("{:<{}}  {:>7}  {:>6}  {:>7}  {:<20}  {:>10}  {}\n", "cell", width, "trials", "failed",
                     "rate", "95% interval", "first fail", "notes");
  for (const CellResult& cell : result.cells) {
    std::string rate, interval;
    if (cell.trials == 0) {
      rate = "-";
      interval = "-";
    } else if (cell.failing() == 0) {
      rate = "0";
      interval = results::format_upper_bound(results::zero_failure_upper_bound(cell.trials));
    } else {
      rate = results::format_rate(cell.failing(), cell.trials);
      interval = results::format_interval(results::wilson_interval(cell.failing(), cell.trials));
    }
    std::string notes;
    auto note = [&](const std::string& text) { notes += fmt::format("{}{}", notes.empty() ? "" : "; ", text); };
    if (cell.trials_needed) note(fmt::format("{} failures after {} trials", *cell.plan->until_failures, *cell.trials_needed));
    if (!cell.stopped_by.empty() && cell.stopped_by != "until-failures") note("stopped: " + cell.stopped_by);
    if (cell.timeouts > 0) note(fmt::format("{} timeouts", cell.timeouts));
    if (cell.errors > 0) note(fmt::format("{} errors", cell.errors));
    if (cell.ignored > 0) note(fmt::format("{} ignored", cell.ignored));
    if (cell.plan->expect == Expect::kFlaky) note("expected flaky");
    if (!cell.as_expected()) note("UNEXPECTED");
    std::string row = fmt::format("{:<{}}  {:>7}  {:>6}  {:>7}  {:<20}  {:>10}  {}", cell.plan->label(), width,
                                  cell.trials, cell.failing(), rate, interval,
                                  cell.first_failing_index ? fmt::format("#{}", *cell.first_failing_index)
                                                           : std::string("-"),
                                  notes);
    row.erase(row.find_last_not_of(' ') + 1);
    out += row + "\n";
  }
  for (const PlannedCell& cell : plan.skipped) {
    out += fmt::format("{:<{}}  skipped: {}\n", cell.label(), width, cell.placement.skip_reason);
  }
  return out;
}

}  // namespace flakelab::harness
