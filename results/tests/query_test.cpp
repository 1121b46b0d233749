#include "flakelab/results/query.h"
#include "flakelab/results/stats.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "fixtures.h"
#include "temp_dir.h"

namespace flakelab::results {
namespace {

using testing::TempDir;
using namespace testing;  // NOLINT: fixtures

constexpr int64_t kDay = 86'400'000;
constexpr int64_t kT0 = 1'763'900'000'000;  // 2025-11-23

// Two hosts; compel/stack legacy (flaky) on both, guard_zone (clean) on epyc, scm06 with delays.
struct Campaign {
  TempDir dir;
  std::string path = dir.file("campaign.db");
  int64_t legacy_epyc_1 = 0, legacy_epyc_2 = 0, legacy_xeon = 0, guard = 0, scm_0 = 0, scm_1000 = 0;

  Campaign() {
    Store store(path, 64);
    const int64_t e = store.upsert_host(epyc());
    const int64_t x = store.upsert_host(xeon());
    legacy_epyc_1 = store.begin_run(e, make_run("compel/stack", "check=legacy", "victim=0,injector=1", kT0));
    add_trials(store, legacy_epyc_1, 200, 10, stack_message, kT0);  // 20 failures, first at index 9
    legacy_epyc_2 = store.begin_run(e, make_run("compel/stack", "check=legacy", "victim=0,injector=1", kT0 + kDay));
    add_trials(store, legacy_epyc_2, 100, 25, stack_message, kT0 + kDay);  // 4 failures, first at 24
    legacy_xeon = store.begin_run(x, make_run("compel/stack", "check=legacy", "victim=0,injector=1", kT0 + 2 * kDay));
    add_trials(store, legacy_xeon, 100, 50, stack_message, kT0 + 2 * kDay);  // 2
    guard = store.begin_run(e, make_run("compel/stack", "check=guard_zone", "victim=0,injector=1", kT0 + 3 * kDay));
    add_trials(store, guard, 300, 0, stack_message);  // clean
    scm_0 = store.begin_run(e, make_run("scm06", "restore_delay_us=0", "unpinned", kT0 + 4 * kDay));
    for (int i = 0; i < 50; ++i) {
      store.add_trial(scm_0, make_trial(i, i < 49 ? Outcome::kFail : Outcome::kPass, i < 49 ? bind_message(i) : "",
                                        kT0 + 4 * kDay + i));
    }
    store.add_trial(scm_0, make_trial(50, Outcome::kError, "seize 4242: EPERM", kT0 + 4 * kDay + 50));
    scm_1000 = store.begin_run(e, make_run("scm06", "restore_delay_us=1000", "unpinned", kT0 + 5 * kDay));
    add_trials(store, scm_1000, 50, 0, bind_message);
    store.end_run(scm_1000, kT0 + 5 * kDay + 60'000);
  }
};

TEST(Query, RatesPerCellPoolRunsOfTheSameCell) {
  Campaign c;
  Store store(c.path);
  Query q(store);
  const auto rates = q.rates();
  ASSERT_EQ(rates.size(), 5u);
  // Ordered by cell: scenario, placement, params, cpu.
  EXPECT_EQ(rates[0].cell.params, "check=guard_zone");
  EXPECT_EQ(rates[1].cell.params, "check=legacy");
  EXPECT_EQ(rates[1].cell.cpu_model, "AMD EPYC 7763 64-Core Processor");
  EXPECT_EQ(rates[2].cell.cpu_model, "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz");
  EXPECT_EQ(rates[3].cell.params, "restore_delay_us=0");
  EXPECT_EQ(rates[4].cell.params, "restore_delay_us=1000");

  const CellRate& legacy = rates[1];
  EXPECT_EQ(legacy.runs, 2);
  EXPECT_EQ(legacy.counts.trials, 300);
  EXPECT_EQ(legacy.counts.failures, 24);
  EXPECT_DOUBLE_EQ(legacy.rate, 0.08);
  const Interval wilson = wilson_interval(24, 300);
  EXPECT_DOUBLE_EQ(legacy.wilson_low, wilson.low);
  EXPECT_DOUBLE_EQ(legacy.wilson_high, wilson.high);
  EXPECT_DOUBLE_EQ(legacy.upper_bound, wilson.high);
  EXPECT_TRUE(legacy.flaky());

  const CellRate& guard = rates[0];
  EXPECT_EQ(guard.counts.trials, 300);
  EXPECT_EQ(guard.counts.failing(), 0);
  EXPECT_FALSE(guard.flaky());
  EXPECT_NEAR(guard.upper_bound, 1 - std::pow(0.05, 1.0 / 300), 1e-12);
  EXPECT_NEAR(guard.upper_bound, 0.00994, 1e-4);

  EXPECT_EQ(rates[3].counts.errors, 1);
  EXPECT_EQ(rates[3].counts.trials, 51);
  EXPECT_EQ(rates[4].wall_ms, 60'000);
}

TEST(Query, FiltersByRunAndDate) {
  Campaign c;
  Store store(c.path);
  Query q(store);
  Filter by_run;
  by_run.run_ids = {c.legacy_epyc_2};
  const auto one = q.rates(by_run);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].counts.trials, 100);
  EXPECT_EQ(one[0].counts.failures, 4);

  Filter since;
  since.since_ms = kT0 + 4 * kDay;
  const auto recent = q.rates(since);
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent[0].cell.scenario, "scm06");

  EXPECT_EQ(parse_date_ms("2025-11-23"), 1'763'856'000'000);
  EXPECT_EQ(parse_date_ms("2025-11-23T01:00:00Z"), 1'763'856'000'000 + 3'600'000);
  EXPECT_EQ(parse_date_ms("2025-11-23 01:00:00"), 1'763'856'000'000 + 3'600'000);
  EXPECT_EQ(parse_date_ms("1763856000000"), 1'763'856'000'000);
  EXPECT_THROW(parse_date_ms("yesterday"), std::invalid_argument);
  EXPECT_THROW(parse_date_ms("2025-02-30"), std::invalid_argument);
  EXPECT_EQ(format_time_ms(1'763'856'000'123), "2025-11-23T00:00:00.123Z");
}

TEST(Query, SignaturesWithCountsAndFirstLastSeen) {
  Campaign c;
  Store store(c.path);
  Query q(store);
  const auto sigs = q.signatures();
  ASSERT_EQ(sigs.size(), 3u);
  EXPECT_THAT(sigs[0].normalized, ::testing::StartsWith("unix: Can't bind id <hex> ino <ino>"));
  EXPECT_EQ(sigs[0].count, 49);
  EXPECT_EQ(sigs[0].total_count, 49);
  EXPECT_EQ(sigs[0].first_seen_ms, kT0 + 4 * kDay);
  EXPECT_EQ(sigs[0].last_seen_ms, kT0 + 4 * kDay + 48);
  EXPECT_EQ(sigs[0].example_message, bind_message(0));
  EXPECT_EQ(sigs[0].cells, 1);
  EXPECT_EQ(sigs[1].count, 26);  // stack: 20 + 4 + 2
  EXPECT_EQ(sigs[1].cells, 2);   // epyc and xeon
  EXPECT_EQ(sigs[1].first_seen_ms, kT0 + 9);
  EXPECT_EQ(sigs[1].last_seen_ms, kT0 + 2 * kDay + 99);
  EXPECT_EQ(sigs[2].count, 1);  // the error
  EXPECT_EQ(sigs[2].normalized, "seize <n>: EPERM");

  Filter xeon_only;
  xeon_only.run_ids = {c.legacy_xeon};
  const auto filtered = q.signatures(xeon_only);
  ASSERT_EQ(filtered.size(), 1u);
  EXPECT_EQ(filtered[0].count, 2);
  EXPECT_EQ(filtered[0].total_count, 26);
  EXPECT_EQ(filtered[0].first_seen_ms, kT0 + 2 * kDay + 49);

  Filter since;
  since.since_ms = kT0 + kDay;
  EXPECT_EQ(q.signatures(since)[1].count, 6);
}

TEST(Query, TrialsForSignature) {
  Campaign c;
  Store store(c.path);
  Query q(store);
  const std::string hash = Normalizer().signature(stack_message(0)).hex();
  const auto trials = q.trials_for_signature(hash);
  ASSERT_EQ(trials.size(), 26u);
  EXPECT_EQ(trials[0].run_id, c.legacy_epyc_1);
  EXPECT_EQ(trials[0].index, 9);
  EXPECT_EQ(trials[0].message, stack_message(9));
  EXPECT_EQ(trials[0].recorded_at_ms, kT0 + 9);
  EXPECT_EQ(trials.back().run_id, c.legacy_xeon);
  EXPECT_EQ(trials.back().index, 99);
  EXPECT_EQ(trials.back().cell.cpu_model, xeon().cpu_brand);
  EXPECT_EQ(q.trials_for_signature(hash, {}, 5).size(), 5u);
  Filter one;
  one.run_ids = {c.legacy_epyc_2};
  EXPECT_EQ(q.trials_for_signature(hash, one).size(), 4u);
  EXPECT_TRUE(q.trials_for_signature("0000000000000000").empty());
}

TEST(Query, TrialsAndTimeToFirstFailure) {
  Campaign c;
  Store store(c.path);
  Query q(store);
  const auto ff = q.first_failures();
  ASSERT_EQ(ff.size(), 5u);
  const FirstFailure& legacy_epyc = ff[1];
  EXPECT_EQ(legacy_epyc.runs, 2);
  EXPECT_EQ(legacy_epyc.runs_with_failure, 2);
  EXPECT_EQ(legacy_epyc.min_trials, 10);
  EXPECT_EQ(legacy_epyc.max_trials, 25);
  EXPECT_DOUBLE_EQ(legacy_epyc.mean_trials, 17.5);
  EXPECT_DOUBLE_EQ(legacy_epyc.mean_ms, 17.5 * 2.0);  // every trial takes 2 ms
  EXPECT_EQ(ff[0].runs_with_failure, 0);               // guard zone never failed
  EXPECT_EQ(ff[3].min_trials, 1);                      // scm06 without delay fails at once
}

TEST(Query, RatePerRunOverTime) {
  Campaign c;
  Store store(c.path);
  Query q(store);
  const auto rates = q.rates();
  const auto series = q.rate_over_time(rates[1].cell);
  ASSERT_EQ(series.size(), 2u);
  EXPECT_EQ(series[0].run_id, c.legacy_epyc_1);
  EXPECT_DOUBLE_EQ(series[0].rate, 0.1);
  EXPECT_EQ(series[1].run_id, c.legacy_epyc_2);
  EXPECT_DOUBLE_EQ(series[1].rate, 0.04);
  EXPECT_LT(series[0].started_at_ms, series[1].started_at_ms);
  EXPECT_EQ(q.runs().size(), 6u);
}

TEST(Query, CellSignaturesMostFrequentFirst) {
  Campaign c;
  Store store(c.path);
  Query q(store);
  const auto cs = q.cell_signatures();
  ASSERT_EQ(cs.size(), 4u);  // legacy epyc, legacy xeon, scm06 delay 0 (bind + error)
  EXPECT_EQ(cs[0].count, 24);
  EXPECT_EQ(cs[0].example_message, stack_message(9));
  EXPECT_EQ(cs[2].cell.params, "restore_delay_us=0");
  EXPECT_EQ(cs[2].count, 49);
  EXPECT_EQ(cs[3].count, 1);
  EXPECT_EQ(q.cell_signatures({}, 1).size(), 3u);
}

TEST(Query, QueriesSeePendingTrials) {
  TempDir dir;
  Store store(dir.file("r.db"), 1000);
  const int64_t run = store.begin_run(store.upsert_host(epyc()), make_run("s", "", "", 1));
  store.add_trial(run, make_trial(0, Outcome::kFail, "boom 1"));
  Query q(store);
  EXPECT_EQ(q.rates()[0].counts.failures, 1);
  EXPECT_EQ(q.signatures()[0].count, 1);
}

TEST(Query, CellParam) {
  CellKey key;
  key.params = "check=legacy,restore_delay_us=250,x=";
  EXPECT_EQ(key.param("restore_delay_us"), "250");
  EXPECT_EQ(key.param("check"), "legacy");
  EXPECT_EQ(key.param("x"), "");
  EXPECT_FALSE(key.param("delay").has_value());
}

}  // namespace
}  // namespace flakelab::results

namespace flakelab::results {
namespace {

TEST(Query, NaturalOrderOfCells) {
  EXPECT_TRUE(natural_compare("restore_delay_us=500", "restore_delay_us=1000") < 0);
  EXPECT_TRUE(natural_compare("a10", "a9") > 0);
  EXPECT_TRUE(natural_compare("a", "a0") < 0);
  EXPECT_TRUE(natural_compare("x=07", "x=07") == 0);
  EXPECT_TRUE(natural_compare("x=07", "x=7") != 0) << "different text is never equivalent";
  EXPECT_TRUE(natural_compare("victim=0,injector=2", "victim=0,injector=10") < 0);
  CellKey a{"scm06", "unpinned", "restore_delay_us=500", "cpu"};
  CellKey b{"scm06", "unpinned", "restore_delay_us=1000", "cpu"};
  EXPECT_TRUE(a < b);
  EXPECT_FALSE(a == b);
}

}  // namespace
}  // namespace flakelab::results
