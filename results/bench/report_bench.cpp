// A report over 1,000,000 trials: collect (all queries) + render, per format and all four.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "flakelab/results/reports.h"
#include "flakelab/results/store.h"
#include "temp_dir.h"

namespace flakelab::results {
namespace {

constexpr int64_t kTrials = 1'000'000;

// Built once per process: 2 hosts x (compel/stack legacy/guard_zone x 2 placements +
// scm06 x 6 delays) = 20 cells, 2 runs each = 40 runs of 25,000 trials; ~5% failing overall.
struct BigDb {
  testing::TempDir dir;
  std::string path = dir.file("big.db");
  double build_seconds = 0;

  BigDb() {
    const auto begin = std::chrono::steady_clock::now();
    Store store(path, 4096);
    struct Cell {
      std::string scenario, params, placement;
      int every;  // one failure in `every` trials (0: none)
    };
    std::vector<Cell> cells;
    for (const char* placement : {"victim=0,injector=1", "victim=0,injector=64"}) {
      cells.push_back({"compel/stack", "check=legacy", placement, 10});
      cells.push_back({"compel/stack", "check=guard_zone", placement, 0});
    }
    for (int delay : {0, 250, 500, 1000, 2000, 4000}) {
      cells.push_back({"scm06", "restore_delay_us=" + std::to_string(delay), "unpinned", delay == 0 ? 4 : delay / 25});
    }
    HostInfo a;
    a.hostname = "epyc";
    a.cpu_brand = "AMD EPYC 7763 64-Core Processor";
    HostInfo b;
    b.hostname = "xeon";
    b.cpu_brand = "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz";
    const int64_t hosts[] = {store.upsert_host(a), store.upsert_host(b)};
    const int64_t per_run = kTrials / (2 * static_cast<int64_t>(cells.size()) * 2);
    int64_t t = 1'763'900'000'000;
    TrialRecord trial;
    trial.cpus_used = "victim=0,injector=1";
    trial.duration_ms = 3.0;
    for (int rep = 0; rep < 2; ++rep) {
      for (int64_t host : hosts) {
        for (const Cell& cell : cells) {
          RunInfo info;
          info.scenario = cell.scenario;
          info.params = cell.params;
          info.placement = cell.placement;
          info.started_at_ms = t;
          const int64_t run = store.begin_run(host, info);
          for (int64_t i = 0; i < per_run; ++i) {
            const bool fail = cell.every > 0 && i % cell.every == cell.every - 1;
            trial.index = i;
            trial.outcome = fail ? Outcome::kFail : Outcome::kPass;
            trial.finished_at_ms = t + i;
            trial.message.clear();
            if (fail) {
              trial.message = cell.scenario == "scm06"
                                  ? "unix: Can't bind id 0x9 ino " + std::to_string(433398 + i) +
                                        " addr : Address already in use"
                                  : "Saved data unexpectedly modified at 0x7f" + std::to_string(i) + "000 (offset " +
                                        std::to_string(i % 16) + ")";
            }
            store.add_trial(run, trial);
          }
          store.end_run(run, t + per_run * 3);
          t += 3'600'000;
        }
      }
    }
    store.flush();
    build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    std::fprintf(stderr, "report bench: built %lld trials in %.2f s (%.0f rows/s incl. failures/signatures)\n",
                 static_cast<long long>(kTrials), build_seconds, static_cast<double>(kTrials) / build_seconds);
  }
};

BigDb& big_db() {
  static BigDb db;
  return db;
}

void BM_ReportOverMillionTrials(benchmark::State& state) {
  BigDb& db = big_db();
  const auto format = static_cast<int>(state.range(0));  // -1: all four
  Store store(db.path);
  std::size_t bytes = 0;
  for (auto _ : state) {
    const ReportData data = collect_report(store);
    if (format < 0) {
      for (ReportFormat f : {ReportFormat::kText, ReportFormat::kJson, ReportFormat::kJunit, ReportFormat::kHtml}) {
        bytes += render_report(data, f).size();
      }
    } else {
      bytes += render_report(data, static_cast<ReportFormat>(format)).size();
    }
    if (data.totals.trials != kTrials) state.SkipWithError("wrong trial count");
  }
  state.counters["trials"] = static_cast<double>(kTrials);
  state.counters["bytes"] = static_cast<double>(bytes) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_ReportOverMillionTrials)
    ->ArgName("format")
    ->Arg(-1)
    ->Arg(static_cast<int>(ReportFormat::kText))
    ->Arg(static_cast<int>(ReportFormat::kHtml))
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

}  // namespace
}  // namespace flakelab::results
