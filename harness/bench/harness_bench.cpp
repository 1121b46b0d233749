// Harness cost per trial and parallel throughput, through the run API that `flakelab
// run` uses (plan_campaign + run_campaign: clone with pid/mount/net namespaces, private
// /proc, pinning and read-back, temp dir, result pipe, reap, SQLite record).
//
//   BM_Trial/selftest_noop   harness overhead per trial (the scenario does nothing)
//   BM_Trial/compel_infect   a full compel/infect trial through the harness, for scale
//   BM_Throughput/jobs:N/busy_us:B  trials/s of a CPU-bound trial (selftest/noop
//                            busy_us=B) with N workers pinned same-pu on disjoint PUs
//   BM_ForkExitReap          the floor under any harness with a process per trial: fork
//                            this process, _exit, waitpid (no namespaces, no work)
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "flakelab/harness/campaign.h"
#include "flakelab/harness/campaign_runner.h"
#include "flakelab/harness/topology.h"
#include "floors.h"

namespace {

using namespace flakelab::harness;

struct TempDb {
  TempDb() {
    std::string pattern = "/tmp/flakelab-bench-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp");
    dir = pattern;
  }
  ~TempDb() { std::filesystem::remove_all(dir); }
  std::string dir;
};

// Runs `trials` trials of `scenario` per iteration; returns the cell's wall time.
double run_cell(const Topology& topology, const std::string& db, const std::string& scenario,
                std::vector<std::pair<std::string, std::string>> params, int64_t trials, int jobs,
                const std::string& placement) {
  CampaignSpec spec;
  EntrySpec entry;
  entry.scenario = scenario;
  entry.trials = trials;
  entry.placements = placement;
  for (auto& [k, v] : params) entry.params.emplace_back(k, std::vector<std::string>{v});
  spec.entries.push_back(entry);
  spec.db = db;
  spec.seed = 1;
  spec.jobs = jobs;
  spec.keep_artifacts = KeepArtifacts::kNever;
  const CampaignResult result = run_campaign(plan_campaign(spec, topology), topology);
  if (result.cells.at(0).passes != trials) throw std::runtime_error(scenario + ": a trial did not pass");
  return result.cells[0].wall_s;
}

void BM_Trial(benchmark::State& state, const char* scenario) {
  const Topology topology;
  TempDb tmp;
  constexpr int64_t kTrials = 200;
  double wall = 0;
  for (auto _ : state) wall += run_cell(topology, tmp.dir + "/b.db", scenario, {}, kTrials, 1, "same-pu");
  state.SetItemsProcessed(state.iterations() * kTrials);
  state.counters["ms_per_trial"] = 1000 * wall / static_cast<double>(state.iterations() * kTrials);
  state.SetLabel("same-pu, 200 trials per iteration");
}

void BM_Throughput(benchmark::State& state) {
  const Topology topology;
  const int jobs = static_cast<int>(state.range(0));
  const std::string busy_us = std::to_string(state.range(1));
  if (static_cast<int>(topology.pus().size()) < jobs) {
    state.SkipWithError("not enough PUs");
    return;
  }
  TempDb tmp;
  constexpr int64_t kTrials = 100;
  double wall = 0;
  for (auto _ : state) {
    wall += run_cell(topology, tmp.dir + "/b.db", "selftest/noop", {{"busy_us", busy_us}}, kTrials, jobs, "same-pu");
  }
  state.counters["trials_per_s"] = static_cast<double>(state.iterations() * kTrials) / wall;
  state.SetLabel("selftest/noop, same-pu workers");
}

void BM_ForkExitReap(benchmark::State& state) {
  for (auto _ : state) {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid) {
      state.SkipWithError("fork/waitpid failed");
      return;
    }
  }
}

}  // namespace

BENCHMARK(BM_ForkExitReap)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Trial, selftest_noop, "selftest/noop")->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);
BENCHMARK_CAPTURE(BM_Trial, compel_infect, "compel/infect")->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);
BENCHMARK(BM_Throughput)
    ->ArgNames({"jobs", "busy_us"})
    ->Args({1, 2000})
    ->Args({2, 2000})
    ->Args({1, 10000})
    ->Args({2, 10000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(3);

// The floors beside them (Floor_ForkExitWait is BM_ForkExitReap's twin, kept for the
// README's earlier figures).
int main(int argc, char** argv) { return flakelab::bench::run_with_floors(argc, argv, {}); }
