// Throughput of batched trial inserts: rows/s for several batch sizes (one transaction per batch).
#include <benchmark/benchmark.h>

#include <string>

#include "flakelab/results/store.h"
#include "temp_dir.h"

namespace flakelab::results {
namespace {

constexpr int kRowsPerIteration = 4096;

void BM_BatchedTrialInserts(benchmark::State& state) {
  testing::TempDir dir;
  Store store(dir.file("bench.db"), static_cast<int>(state.range(0)));
  HostInfo host;
  host.hostname = "bench";
  RunInfo run;
  run.scenario = "compel/stack";
  run.params = "adjacent_writer=on,check=legacy";
  run.placement = "victim=0,injector=1";
  const int64_t run_id = store.begin_run(store.upsert_host(host), run);

  // Roughly the shape of a real flaky run: mostly passes, 5% failures whose messages differ
  // in their numbers (each gets a failures row and a signature upsert in the same batch).
  TrialRecord trial;
  trial.cpus_used = "victim=0,injector=1";
  int64_t index = 0;
  for (auto _ : state) {
    for (int i = 0; i < kRowsPerIteration; ++i, ++index) {
      trial.index = index;
      const bool fail = index % 20 == 0;
      trial.outcome = fail ? Outcome::kFail : Outcome::kPass;
      trial.duration_ms = 3.5;
      trial.message.clear();
      if (fail) {
        trial.message = index % 40 == 0
                            ? "Saved data unexpectedly modified at 0x7ffd" + std::to_string(index) +
                                  " (offset " + std::to_string(index % 13) + " past the parasite stack)"
                            : "unix: Can't bind id 0x" + std::to_string(index % 9) + " ino " +
                                  std::to_string(433398 + index) + " addr : Address already in use";
      }
      store.add_trial(run_id, trial);
    }
    store.flush();  // count the partial last batch inside the timing
  }
  state.counters["rows/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kRowsPerIteration, benchmark::Counter::kIsRate);
}
// Real time: the cost is mostly SQLite I/O, which CPU time would undercount.
BENCHMARK(BM_BatchedTrialInserts)
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(16)
    ->Arg(256)
    ->Arg(4096)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace flakelab::results
