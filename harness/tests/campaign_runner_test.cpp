// The run API (plan_campaign + run_campaign) in-process, on this machine: statistics,
// reproducibility, isolation over many trials, workers, stop conditions, timeouts,
// artifacts, message classification, noise and jitter.
#include "flakelab/harness/campaign_runner.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <set>
#include <sstream>

#include "flakelab/base/temp_dir.h"
#include "flakelab/harness/binding.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/jitter.h"
#include "flakelab/harness/seed.h"
#include "flakelab/harness/topology.h"
#include "flakelab/results/stats.h"
#include "flakelab/results/store.h"
#include "process_scan.h"

namespace flakelab::harness {
namespace {

namespace fs = std::filesystem;
using results::Outcome;

size_t count_entries(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++n;
  return n;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class RunApi : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = dir_ + "/tmp";
    fs::create_directory(tmp_);
    // Trial temp dirs go under $TMPDIR: the test can see that none is left.
    const char* old = ::getenv("TMPDIR");
    if (old != nullptr) old_tmpdir_ = old;
    ::setenv("TMPDIR", tmp_.c_str(), 1);
  }
  void TearDown() override {
    if (old_tmpdir_) ::setenv("TMPDIR", old_tmpdir_->c_str(), 1);
    else ::unsetenv("TMPDIR");
  }

  CampaignSpec spec(const std::string& scenario, int64_t trials, std::vector<std::pair<std::string, std::string>> params = {}) {
    CampaignSpec s;
    EntrySpec entry;
    entry.scenario = scenario;
    entry.trials = trials;
    for (auto& [k, v] : params) entry.params.emplace_back(k, std::vector<std::string>{v});
    s.entries.push_back(entry);
    s.db = dir_ + "/t.db";
    s.seed = 12345;
    s.keep_artifacts = KeepArtifacts::kNever;
    return s;
  }

  CampaignResult run(const CampaignSpec& s, const RunHooks& hooks = {}) {
    return run_campaign(plan_campaign(s, topology_), topology_, hooks);
  }

  std::vector<results::TrialRecord> trials(int64_t run_id) {
    results::Store store(dir_ + "/t.db");
    return store.trials(run_id);
  }

  Topology topology_;
  const base::TempDir temp_{::testing::TempDir(), "flakelab-api-"};  // removed with the fixture
  const std::string dir_ = temp_.path();
  std::string tmp_;
  std::optional<std::string> old_tmpdir_;
};

std::vector<int64_t> failing(const std::vector<results::TrialRecord>& trials) {
  std::vector<int64_t> out;
  for (const auto& t : trials) {
    if (t.outcome == Outcome::kFail) out.push_back(t.index);
  }
  return out;
}

TEST_F(RunApi, CoinAtFivePercentIsMeasuredAndReplayedBySeed) {
  CampaignSpec s = spec("selftest/coin", 2000, {{"p", "0.05"}});
  s.seed = 2026;
  const CampaignResult a = run(s);
  ASSERT_EQ(a.cells.size(), 1u);
  const CellResult& cell = a.cells[0];
  EXPECT_EQ(cell.trials, 2000);
  EXPECT_EQ(cell.errors + cell.timeouts, 0);
  const results::Interval wilson = results::wilson_interval(cell.failing(), cell.trials);
  EXPECT_LE(wilson.low, 0.05);
  EXPECT_GE(wilson.high, 0.05);
  EXPECT_GT(cell.failures, 0);
  const std::vector<int64_t> first = failing(trials(cell.run_id));
  EXPECT_EQ(cell.first_failing_index, first.front());

  std::vector<int64_t> first_500;
  std::copy_if(first.begin(), first.end(), std::back_inserter(first_500), [](int64_t i) { return i < 500; });
  ASSERT_FALSE(first_500.empty());

  // Same seed, two workers: the very same failing trials.
  s.entries[0].trials = 500;
  s.jobs = 2;
  const CampaignResult b = run(s);
  EXPECT_EQ(failing(trials(b.cells[0].run_id)), first_500);
  // Another seed: other trials fail.
  s.seed = 2027;
  s.jobs = 1;
  EXPECT_NE(failing(trials(run(s).cells[0].run_id)), first_500);
}

// Sanitizer builds check the same over fewer trials: a fork of an ASan process (the
// leaked child) and its teardown cost ~20 ms there, 10,000 of them over 4 minutes.
#if defined(__SANITIZE_ADDRESS__)
constexpr int64_t kIsolationTrials = 1000;
#else
constexpr int64_t kIsolationTrials = 10000;
#endif

TEST_F(RunApi, AfterTenThousandTrialsNothingIsLeftBehind) {
  // Each trial binds an abstract unix name, leaves a file in its temp dir and a child
  // process behind (litter, leak_child): isolation must take all of it away.
  CampaignSpec s = spec("selftest/noop", kIsolationTrials, {{"litter", "on"}, {"leak_child", "on"}});
  size_t fds_after_first = 0, children_after_first = 0, fds_after_last = 0, children_after_last = 0;
  auto count_fds = [] { return count_entries("/proc/self/fd"); };
  auto count_children = [] { return process_tree(::getpid()).size() - 1; };
  RunHooks hooks;
  hooks.on_trial = [&](const CellProgress& p) {
    if (p.done == 1) {
      fds_after_first = count_fds();
      children_after_first = count_children();
    }
    if (p.done == kIsolationTrials) {
      fds_after_last = count_fds();
      children_after_last = count_children();
    }
    return true;
  };
  const CampaignResult result = run(s, hooks);
  ASSERT_EQ(result.cells.size(), 1u);
  EXPECT_EQ(result.cells[0].trials, kIsolationTrials);
  EXPECT_EQ(result.cells[0].passes, kIsolationTrials) << "a trial saw another trial's abstract name or failed";
  EXPECT_EQ(fds_after_last, fds_after_first);
  EXPECT_EQ(children_after_last, children_after_first);
  EXPECT_EQ(children_after_first, 1u) << "the worker's trial host, between trials";
  EXPECT_EQ(count_children(), 0u);
  EXPECT_EQ(count_entries(tmp_), 0u) << "a trial temp dir is left in " << tmp_;
  EXPECT_EQ(slurp("/proc/net/unix").find("flakelab-noop-litter"), std::string::npos);
  EXPECT_EQ(testing::processes_named("flk-noop-leak"), std::vector<pid_t>{});
}

TEST_F(RunApi, WorkersKeepTheirTrialHostUnlessFreshNamespacesAreAsked) {
  CampaignSpec s = spec("selftest/noop", 20, {{"leak_child", "on"}});
  std::set<pid_t> hosts_between_trials;
  RunHooks hooks;
  hooks.on_trial = [&](const CellProgress&) {
    for (pid_t pid : process_tree(::getpid())) {
      if (pid != ::getpid()) hosts_between_trials.insert(pid);
    }
    return true;
  };
  EXPECT_EQ(run(s, hooks).cells.at(0).passes, 20);
  EXPECT_EQ(hosts_between_trials.size(), 1u) << "one host for the worker's whole cell, nothing else";

  hosts_between_trials.clear();
  s.fresh_namespaces = true;
  EXPECT_EQ(run(s, hooks).cells.at(0).passes, 20);
  EXPECT_EQ(hosts_between_trials, std::set<pid_t>{}) << "a trial's host goes with it";
}

TEST_F(RunApi, ASingleWorkerHarnessWaitsOnItsTrialsCpuAndGetsItsCpusBack) {
  if (topology_.pus().size() < 2) GTEST_SKIP() << "needs 2 usable CPUs";
  const std::vector<int> own = thread_affinity(0);
  CampaignSpec s = spec("selftest/noop", 5);
  s.entries[0].placements = "same-pu";
  EntrySpec unpinned = s.entries[0];
  unpinned.placements = "unpinned";
  s.entries.push_back(unpinned);
  std::vector<std::vector<int>> during;
  RunHooks hooks;
  hooks.on_trial = [&](const CellProgress&) {
    during.push_back(thread_affinity(0));
    return true;
  };
  const CampaignResult result = run(s, hooks);
  ASSERT_EQ(result.cells.size(), 2u);
  ASSERT_EQ(during.size(), 10u);
  EXPECT_EQ(during[0].size(), 1u) << "pinned with its same-pu trials";
  EXPECT_EQ(during[9], own) << "not pinned with unpinned trials";
  EXPECT_EQ(thread_affinity(0), own) << "its own CPUs back after the run";
  // The unpinned cell's host was forked with the harness's own mask, not the pinned one.
  for (const auto& trial : trials(result.cells[1].run_id)) {
    EXPECT_EQ(trial.cpus_used, "injector=" + format_cpu_list(own));
  }
}

TEST_F(RunApi, UntilFailuresStopsACellAndCountsTheTrialsNeeded) {
  CampaignSpec s = spec("selftest/coin", 1000, {{"p", "0.3"}});
  s.entries[0].until_failures = 5;
  const CellResult cell = run(s).cells.at(0);
  const std::vector<int64_t> fails = failing(trials(cell.run_id));
  ASSERT_GE(fails.size(), 5u);
  EXPECT_EQ(cell.trials_needed, fails[4] + 1);
  EXPECT_EQ(cell.trials, fails[4] + 1) << "with one worker, the cell stops at the 5th failure";
  EXPECT_EQ(cell.stopped_by, "until-failures");
}

TEST_F(RunApi, MaxTimeEndsTheCampaign) {
  CampaignSpec s = spec("selftest/noop", 1000, {{"sleep_ms", "50"}});
  s.max_time_s = 0.5;
  const auto start = std::chrono::steady_clock::now();
  const CellResult cell = run(s).cells.at(0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(cell.stopped_by, "max-time");
  EXPECT_GE(cell.trials, 2);
  EXPECT_LE(cell.trials, 11);
  // Indices stay contiguous: no trial was skipped.
  const auto recorded = trials(cell.run_id);
  for (size_t i = 0; i < recorded.size(); ++i) EXPECT_EQ(recorded[i].index, static_cast<int64_t>(i));
}

TEST_F(RunApi, WorkersRunOnDisjointPusAndAreRecordedAsReadBack) {
  if (topology_.pus().size() < 2) GTEST_SKIP() << "needs 2 usable CPUs";
  CampaignSpec s = spec("selftest/noop", 40, {{"spawn_victim", "on"}});
  s.entries[0].placements = "same-pu";
  s.jobs = 2;
  const CellResult cell = run(s).cells.at(0);
  EXPECT_EQ(cell.passes, 40);
  std::set<std::string> used;
  for (const auto& t : trials(cell.run_id)) used.insert(t.cpus_used);
  const std::string a = std::to_string(topology_.pus()[0]), b = std::to_string(topology_.pus()[1]);
  EXPECT_EQ(used, (std::set<std::string>{"victim=" + a + ",injector=" + a, "victim=" + b + ",injector=" + b}));
}

TEST_F(RunApi, RandomPlacementIsDrawnPerTrialAndReplayedBySeed) {
  if (topology_.pus().size() < 2) GTEST_SKIP() << "needs 2 usable CPUs";
  CampaignSpec s = spec("selftest/noop", 30, {{"spawn_victim", "on"}});
  s.entries[0].placements = "random";
  auto cpus = [&](const CampaignResult& r) {
    std::vector<std::string> out;
    for (const auto& t : trials(r.cells.at(0).run_id)) out.push_back(t.cpus_used);
    return out;
  };
  const std::vector<std::string> first = cpus(run(s));
  EXPECT_EQ(cpus(run(s)), first);
  EXPECT_GT(std::set<std::string>(first.begin(), first.end()).size(), 1u);
}

TEST_F(RunApi, ATimeoutIsAbortedThenKilled) {
  CampaignSpec abortable = spec("selftest/noop", 1, {{"sleep_ms", "5000"}});
  abortable.timeout_s = 0.2;
  const auto t1 = trials(run(abortable).cells.at(0).run_id).at(0);
  EXPECT_EQ(t1.outcome, Outcome::kTimeout);
  EXPECT_EQ(t1.message, "timeout after 0.2s (SIGABRT)");
  EXPECT_LT(t1.duration_ms, 1000);

  CampaignSpec stubborn = spec("selftest/misbehave", 1, {{"how", "hang"}});
  stubborn.timeout_s = 0.2;
  const auto t2 = trials(run(stubborn).cells.at(0).run_id).at(0);
  EXPECT_EQ(t2.outcome, Outcome::kTimeout);
  EXPECT_EQ(t2.message, "timeout after 0.2s (SIGABRT ignored for 1s; SIGKILL)");
  EXPECT_GE(t2.duration_ms, 1200);
}

TEST_F(RunApi, KeepArtifactsKeepsFailedTrialDirectoriesAndRecordsThem) {
  CampaignSpec s = spec("selftest/coin", 40, {{"p", "0.5"}});
  s.keep_artifacts = KeepArtifacts::kFailed;
  s.artifacts_dir = dir_ + "/art";
  const CellResult cell = run(s).cells.at(0);
  ASSERT_GT(cell.failures, 0);
  ASSERT_FALSE(cell.artifacts_dir.empty());
  EXPECT_EQ(count_entries(cell.artifacts_dir), static_cast<size_t>(cell.failures));
  results::Store store(s.db);
  EXPECT_EQ(store.run(cell.run_id).info.artifacts_dir, cell.artifacts_dir);
  for (const auto& t : store.trials(cell.run_id)) {
    if (t.outcome == Outcome::kPass) continue;
    EXPECT_EQ(t.artifact_path, cell.artifacts_dir + "/trial-" + std::to_string(t.index));
    const std::string info = slurp(t.artifact_path + "/trial.txt");
    EXPECT_NE(info.find("seed: " + std::to_string(trial_seed(12345, t.index))), std::string::npos) << info;
    EXPECT_NE(info.find("message: " + t.message), std::string::npos) << info;
    EXPECT_TRUE(fs::exists(t.artifact_path + "/output.log"));
  }
  s.keep_artifacts = KeepArtifacts::kAlways;
  const CellResult all = run(s).cells.at(0);
  EXPECT_EQ(count_entries(all.artifacts_dir), 40u);
  EXPECT_EQ(count_entries(tmp_), 0u);
}

TEST_F(RunApi, EngineScenariosKeepTheEngineLogOfEveryTrial) {
  CampaignSpec s = spec("cr/threads", 2);
  s.keep_artifacts = KeepArtifacts::kAlways;
  s.artifacts_dir = dir_ + "/art";
  const CellResult cell = run(s).cells.at(0);
  ASSERT_EQ(cell.failures, 0);
  results::Store store(s.db);
  ASSERT_EQ(store.trials(cell.run_id).size(), 2u);
  for (const auto& t : store.trials(cell.run_id)) {
    const std::string log = slurp(cell.artifacts_dir + "/trial-" + std::to_string(t.index) + "/engine.log");
    // -v4: each step with its duration, and what each dump and restore did.
    EXPECT_NE(log.find("debug: dump pid "), std::string::npos) << log;
    EXPECT_NE(log.find(": freeze: "), std::string::npos) << log;
    EXPECT_NE(log.find(": pages: "), std::string::npos) << log;
    EXPECT_NE(log.find("info: dumped pid "), std::string::npos) << log;
    EXPECT_NE(log.find("info: restored pid "), std::string::npos) << log;
  }
  // Scenarios that never ask for it leave no engine log behind.
  CampaignSpec noop = spec("selftest/noop", 1);
  noop.keep_artifacts = KeepArtifacts::kAlways;
  noop.artifacts_dir = dir_ + "/art-noop";
  const CellResult quiet = run(noop).cells.at(0);
  ASSERT_EQ(count_entries(quiet.artifacts_dir), 1u);
  EXPECT_TRUE(fs::exists(quiet.artifacts_dir + "/trial-0/trial.txt"));
  EXPECT_FALSE(fs::exists(quiet.artifacts_dir + "/trial-0/engine.log"));
}

TEST_F(RunApi, FailureAndIgnorePatternsClassifyMessages) {
  CampaignSpec s = spec("selftest/misbehave", 3, {{"how", "fail"}});
  s.failure_regexes = {"Saved data"};
  CellResult cell = run(s).cells.at(0);
  EXPECT_EQ(cell.errors, 3);
  EXPECT_EQ(trials(cell.run_id).at(0).message, "not a --failure match: misbehave: failed on purpose");
  s.failure_regexes = {"on purpose$"};
  EXPECT_EQ(run(s).cells.at(0).failures, 3);
  s.ignore_regexes = {"failed on"};
  cell = run(s).cells.at(0);
  EXPECT_EQ(cell.passes, 3);
  EXPECT_EQ(cell.ignored, 3);
  EXPECT_EQ(trials(cell.run_id).at(2).message, "ignored (--ignore): misbehave: failed on purpose");
}

TEST_F(RunApi, NoiseRunsOnItsPuForTheCellAndIsRecorded) {
  PlanRequest request;
  request.kind = PlacementKind::kSamePu;
  request.noise = parse_noise("spin@same-l3");
  if (!plan_placement(topology_, request).offered) GTEST_SKIP() << "no PU for same-l3 noise here";
  CampaignSpec s = spec("selftest/noop", 10, {{"spawn_victim", "on"}});
  s.entries[0].placements = "same-pu";
  s.entries[0].noise = "spin@same-l3";
  size_t children_during = 0;
  RunHooks hooks;
  hooks.on_trial = [&](const CellProgress&) {
    children_during = process_tree(::getpid()).size() - 1;
    return true;
  };
  const CellResult cell = run(s, hooks).cells.at(0);
  EXPECT_EQ(cell.passes, 10);
  EXPECT_EQ(children_during, 2u) << "the noise process (and the worker's trial host) run through the cell";
  EXPECT_EQ(process_tree(::getpid()).size(), 1u) << "and is gone after it";
  const auto recorded = trials(cell.run_id);
  EXPECT_NE(recorded.at(0).cpus_used.find(",noise="), std::string::npos) << recorded[0].cpus_used;
  results::Store store(s.db);
  EXPECT_EQ(store.run(cell.run_id).info.placement, "same-pu+noise=spin@same-l3");
}

TEST_F(RunApi, JitterDelaysEachTrialAsItsSeedSays) {
  CampaignSpec s = spec("selftest/noop", 20);
  s.entries[0].jitter = "before_pass=30ms";
  const CellResult cell = run(s).cells.at(0);
  results::Store store(s.db);
  EXPECT_EQ(store.run(cell.run_id).info.params, "busy_us=0,leak_child=off,litter=off,sleep_ms=0,spawn_victim=off,"
                                                "jitter=before_pass:30000us");
  JitterSpec spec;
  spec.max_us["before_pass"] = 30000;
  int64_t total_us = 0;
  for (const auto& t : store.trials(cell.run_id)) {
    Jitter jitter(spec, trial_seed(12345, t.index));
    const int64_t delay_us = jitter.next_delay_us("before_pass");
    EXPECT_GE(t.duration_ms * 1000, static_cast<double>(delay_us)) << "trial " << t.index;
    total_us += delay_us;
  }
  EXPECT_GT(total_us, 20 * 5000) << "delays are spread over 0..30 ms";
}

TEST_F(RunApi, ASimulatedTopologyIsNeverRun) {
  Topology synthetic = Topology::synthetic(synthetic_machines::kDualEpyc7763);
  const CampaignPlan plan = plan_campaign(spec("selftest/noop", 1), synthetic);
  EXPECT_TRUE(plan.simulated);
  EXPECT_THROW(run_campaign(plan, synthetic), HarnessError);
  EXPECT_FALSE(fs::exists(dir_ + "/t.db"));
}

TEST_F(RunApi, AHookCanStopTheCampaign) {
  CampaignSpec s = spec("selftest/coin", 100, {{"p", "0"}});
  RunHooks hooks;
  hooks.on_trial = [](const CellProgress& p) { return p.done < 7; };
  const CampaignResult result = run(s, hooks);
  EXPECT_TRUE(result.stopped_by_hook);
  EXPECT_EQ(result.cells.at(0).trials, 7);
  EXPECT_EQ(trials(result.cells[0].run_id).size(), 7u);
}

}  // namespace
}  // namespace flakelab::harness
