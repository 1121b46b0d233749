// One full scm06 trial (start, dump + kill, restore, verify, teardown) as the
// harness's trial child runs it. The unix-gc-wait policy's wait (the kernel's
// unix garbage collector freeing the dumped sockets' names) is not the engine's
// work: it is reported beside the trial time as unix_gc_wait_ms, and
// trial_minus_wait_ms is the trial's own cost.
#include <benchmark/benchmark.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "flakelab/scenarios/scenario.h"
#include "floors.h"
#include "flakelab/scenarios/scm.h"

using namespace flakelab::scenarios;

namespace {

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) throw std::runtime_error("sched_setaffinity");
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void BM_ScmTrial(benchmark::State& state, const char* name) {
  Scenario* s = find_scenario(name);
  if (!s) throw std::runtime_error(std::string("no scenario ") + name);
  const bool cross = state.range(0) == 1;
  if (cross && sysconf(_SC_NPROCESSORS_ONLN) < 2) {
    state.SkipWithError("cross-pu needs two CPUs");
    return;
  }
  pin_to(0);
  std::vector<double> own, waited;
  int64_t index = 0, failures = 0;
  for (auto _ : state) {
    TrialContext ctx;
    ctx.index = index++;
    for (const ParamSpec& p : s->params()) ctx.params[p.name] = p.default_value;
    ctx.bind_self = [&](Role role) { pin_to(cross && role != Role::kInjector ? 1 : 0); };
    auto t0 = std::chrono::steady_clock::now();
    if (s->run(ctx).verdict != Verdict::kPass) ++failures;
    double total = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    double wait = std::chrono::duration<double, std::milli>(scm::last_trial_times().unix_gc_waited).count();
    own.push_back(total - wait);
    waited.push_back(wait);
  }
  state.counters["trial_minus_wait_ms"] = median(own);       // median; target <= 5 ms
  state.counters["unix_gc_wait_ms"] = median(waited);        // median time the policy waited
  state.counters["failures"] = static_cast<double>(failures);
  state.SetLabel(cross ? "cross-pu" : "same-pu");
  cpu_set_t all;
  CPU_ZERO(&all);
  for (int c = 0; c < sysconf(_SC_NPROCESSORS_ONLN); ++c) CPU_SET(c, &all);
  sched_setaffinity(0, sizeof(all), &all);
}

}  // namespace

BENCHMARK_CAPTURE(BM_ScmTrial, scm06, "scm06")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK_CAPTURE(BM_ScmTrial, scm_ring, "scm_ring")->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();

// The floors beside them: fork + exit + wait, fork + exec.
int main(int argc, char** argv) { return flakelab::bench::run_with_floors(argc, argv, {}); }
