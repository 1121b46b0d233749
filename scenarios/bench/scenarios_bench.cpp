// One full trial of a scenario, run in-process as the harness's trial child runs it:
// victim start, the scenario's work, teardown (kill + reap). Harness isolation
// (namespaces, recording) is measured separately in harness/bench.
//
// Each scenario is measured in two placements, because on this VM a wakeup on another
// CPU costs tens of microseconds and every ptrace stop is one: same-pu (injector and
// victim share one CPU) and cross-pu (victim on another CPU).
#include <benchmark/benchmark.h>
#include <sched.h>

#include <map>
#include <stdexcept>
#include <string>

#include "flakelab/scenarios/scenario.h"
#include "floors.h"

using namespace flakelab::scenarios;

namespace {

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) throw std::runtime_error("sched_setaffinity");
}

void run_scenario(benchmark::State& state, const char* name) {
  Scenario* s = find_scenario(name);
  if (!s) throw std::runtime_error(std::string("no scenario ") + name);
  const bool cross = state.range(0) == 1;
  const int ncpu = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  if (cross && ncpu < 2) {
    state.SkipWithError("cross-pu needs two CPUs");
    return;
  }
  pin_to(0);
  int64_t index = 0, failures = 0;
  for (auto _ : state) {
    TrialContext ctx;
    ctx.seed = static_cast<uint64_t>(index) * 0x9e3779b97f4a7c15ULL;
    ctx.index = index++;
    for (const ParamSpec& p : s->params()) ctx.params[p.name] = p.default_value;
    ctx.bind_self = [&](Role role) { pin_to(cross && role != Role::kInjector ? 1 : 0); };
    if (s->run(ctx).verdict != Verdict::kPass) ++failures;
  }
  state.counters["failures"] = static_cast<double>(failures);
  state.SetLabel(cross ? "cross-pu" : "same-pu");
  cpu_set_t all;
  CPU_ZERO(&all);
  for (int c = 0; c < ncpu; ++c) CPU_SET(c, &all);
  sched_setaffinity(0, sizeof(all), &all);
}

}  // namespace

BENCHMARK_CAPTURE(run_scenario, compel_infect, "compel/infect")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(run_scenario, compel_rsys, "compel/rsys")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(run_scenario, compel_fdspy, "compel/fdspy")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(run_scenario, compel_stack, "compel/stack")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

// The floors beside them: fork + exit + wait, fork + exec.
int main(int argc, char** argv) { return flakelab::bench::run_with_floors(argc, argv, {}); }
