#include "flakelab/results/store.h"

#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "raw_db.h"
#include "temp_dir.h"

namespace flakelab::results {
namespace {

using testing::RawDb;
using testing::TempDir;
using ::testing::HasSubstr;

HostInfo epyc_host() {
  HostInfo host;
  host.hostname = "ci-runner-17";
  host.cpu_vendor = "AuthenticAMD";
  host.cpu_brand = "AMD EPYC 7763 64-Core Processor";
  host.cpu_family = 25;
  host.cpu_model = 1;
  host.cpu_stepping = 1;
  host.cpu_codename = "Milan";
  host.kernel = "6.18.0-flakelab";
  host.microcode = "0xa0011d1";
  host.hypervisor = "bhyve";
  host.vcpus = 4;
  return host;
}

RunInfo stack_run() {
  RunInfo run;
  run.scenario = "compel/stack";
  run.params = "adjacent_writer=on,check=legacy";
  run.placement = "victim=0,injector=1";
  run.seed = std::numeric_limits<uint64_t>::max();  // must survive SQLite's signed integers
  run.command_line = "flakelab run compel/stack --trials 2000";
  run.version = "0.1.0";
  run.started_at_ms = 1'700'000'000'123;
  return run;
}

TrialRecord trial(int64_t index, Outcome outcome, std::string message = {}) {
  TrialRecord record;
  record.index = index;
  record.outcome = outcome;
  record.duration_ms = 1.25 + static_cast<double>(index);
  record.cpus_used = "victim=0,injector=1";
  record.message = std::move(message);
  return record;
}

void expect_same_host(const HostInfo& a, const HostInfo& b) {
  EXPECT_EQ(a.hostname, b.hostname);
  EXPECT_EQ(a.cpu_vendor, b.cpu_vendor);
  EXPECT_EQ(a.cpu_brand, b.cpu_brand);
  EXPECT_EQ(a.cpu_family, b.cpu_family);
  EXPECT_EQ(a.cpu_model, b.cpu_model);
  EXPECT_EQ(a.cpu_stepping, b.cpu_stepping);
  EXPECT_EQ(a.cpu_codename, b.cpu_codename);
  EXPECT_EQ(a.kernel, b.kernel);
  EXPECT_EQ(a.microcode, b.microcode);
  EXPECT_EQ(a.hypervisor, b.hypervisor);
  EXPECT_EQ(a.vcpus, b.vcpus);
}

void expect_same_trial(const TrialRecord& a, const TrialRecord& b) {
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.outcome, b.outcome);
  EXPECT_EQ(a.duration_ms, b.duration_ms);
  EXPECT_EQ(a.cpus_used, b.cpus_used);
  EXPECT_EQ(a.message, b.message);
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Store, HostRunAndTrialsRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("results.db");
  Store store(path);
  EXPECT_EQ(store.path(), path);

  const HostInfo host = epyc_host();
  const int64_t host_id = store.upsert_host(host);
  EXPECT_EQ(store.upsert_host(host), host_id) << "an identical host reuses its row";
  HostInfo updated = host;
  updated.microcode = "0xa0011d3";
  EXPECT_NE(store.upsert_host(updated), host_id) << "a microcode update is a different host";
  expect_same_host(store.host(host_id), host);

  const RunInfo info = stack_run();
  const int64_t run_id = store.begin_run(host_id, info);
  RunRecord record = store.run(run_id);
  EXPECT_EQ(record.id, run_id);
  EXPECT_EQ(record.host_id, host_id);
  EXPECT_EQ(record.info.scenario, info.scenario);
  EXPECT_EQ(record.info.params, info.params);
  EXPECT_EQ(record.info.placement, info.placement);
  EXPECT_EQ(record.info.seed, info.seed);
  EXPECT_EQ(record.info.command_line, info.command_line);
  EXPECT_EQ(record.info.version, info.version);
  EXPECT_EQ(record.info.started_at_ms, info.started_at_ms);
  EXPECT_FALSE(record.ended_at_ms.has_value());

  const std::vector<TrialRecord> written = {
      trial(0, Outcome::kPass),
      trial(1, Outcome::kFail, "Saved data unexpectedly modified at 0x7ffd1234 (offset 12)"),
      trial(2, Outcome::kTimeout, "trial exceeded 5000 ms\nvictim state: D (disk sleep)"),
      trial(3, Outcome::kError, "seize 4242: Operation not permitted — ptrace_scope=3"),
  };
  for (const TrialRecord& t : written) store.add_trial(run_id, t);
  store.end_run(run_id, info.started_at_ms + 4321);

  const std::vector<TrialRecord> read = store.trials(run_id);
  ASSERT_EQ(read.size(), written.size());
  for (size_t i = 0; i < read.size(); ++i) expect_same_trial(read[i], written[i]);
  record = store.run(run_id);
  ASSERT_TRUE(record.ended_at_ms.has_value());
  EXPECT_EQ(*record.ended_at_ms, info.started_at_ms + 4321);
  EXPECT_EQ(store.run_ids(), std::vector<int64_t>{run_id});
}

TEST(Store, ReopenKeepsDataAndReusesHost) {
  TempDir dir;
  const std::string path = dir.file("results.db");
  int64_t host_id = 0;
  int64_t run_id = 0;
  {
    Store store(path);
    host_id = store.upsert_host(epyc_host());
    run_id = store.begin_run(host_id, stack_run());
    store.add_trial(run_id, trial(0, Outcome::kFail, "boom"));
  }
  Store store(path);
  EXPECT_EQ(store.schema_version(), Store::kSchemaVersion);
  EXPECT_EQ(store.upsert_host(epyc_host()), host_id);
  const int64_t second_run = store.begin_run(host_id, stack_run());
  EXPECT_EQ(store.run_ids(), (std::vector<int64_t>{run_id, second_run}));
  ASSERT_EQ(store.trials(run_id).size(), 1u);
  EXPECT_EQ(store.trials(run_id)[0].message, "boom");
  EXPECT_TRUE(store.trials(second_run).empty());
}

TEST(Store, WritesOnlyFullBatchesUntilFlushed) {
  TempDir dir;
  const std::string path = dir.file("results.db");
  Store store(path, /*batch_size=*/7);
  const int64_t run_id = store.begin_run(store.upsert_host(epyc_host()), stack_run());
  for (int i = 0; i < 100; ++i) store.add_trial(run_id, trial(i, Outcome::kPass));

  RawDb raw(path);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM trials"), 98) << "14 full batches of 7";
  EXPECT_EQ(store.pending_trials(), 2);
  store.flush();
  EXPECT_EQ(store.pending_trials(), 0);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM trials"), 100);
  store.flush();  // nothing pending: a no-op
  EXPECT_EQ(raw.integer("SELECT count(*) FROM trials"), 100);
}

TEST(Store, DestructorWritesTheLastPartialBatch) {
  TempDir dir;
  const std::string path = dir.file("results.db");
  int64_t run_id = 0;
  {
    Store store(path, /*batch_size=*/64);  // 1000 = 15 * 64 + 40
    run_id = store.begin_run(store.upsert_host(epyc_host()), stack_run());
    for (int i = 0; i < 1000; ++i) store.add_trial(run_id, trial(i, i % 10 ? Outcome::kPass : Outcome::kFail));
    EXPECT_EQ(store.pending_trials(), 40);
  }
  Store store(path);
  const std::vector<TrialRecord> read = store.trials(run_id);
  ASSERT_EQ(read.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(read[static_cast<size_t>(i)].index, i);
  EXPECT_EQ(store.summarize(run_id).failures, 100);
}

// A killed writer must not lose more than the last moment's trials: a trial that waited
// max_pending_age is written by the next add_trial() or flush_if_due(), not at batch_size.
TEST(Store, PendingTrialsAreWrittenOnceTheOldestHasWaitedMaxPendingAge) {
  TempDir dir;
  const std::string path = dir.file("results.db");
  Store store(path, /*batch_size=*/1000);
  store.set_max_pending_age(std::chrono::milliseconds(50));
  const int64_t run_id = store.begin_run(store.upsert_host(epyc_host()), stack_run());
  RawDb raw(path);
  const std::string count = fmt::format("SELECT COUNT(*) FROM trials WHERE run_id = {}", run_id);
  EXPECT_FALSE(store.flush_due().has_value()) << "nothing pending";
  const auto before = Store::Clock::now();
  store.add_trial(run_id, trial(0, Outcome::kPass));
  store.add_trial(run_id, trial(1, Outcome::kFail, "modified"));
  ASSERT_TRUE(store.flush_due().has_value());
  EXPECT_GE(*store.flush_due(), before + std::chrono::milliseconds(50));
  EXPECT_LE(*store.flush_due(), Store::Clock::now() + std::chrono::milliseconds(50));
  store.flush_if_due();
  EXPECT_EQ(store.pending_trials(), 2) << "not due yet";
  EXPECT_EQ(raw.integer(count), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  store.flush_if_due();
  EXPECT_EQ(store.pending_trials(), 0);
  EXPECT_EQ(raw.integer(count), 2);
  EXPECT_FALSE(store.flush_due().has_value());
  // add_trial() itself writes once the oldest is due.
  store.add_trial(run_id, trial(2, Outcome::kPass));
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  store.add_trial(run_id, trial(3, Outcome::kPass));
  EXPECT_EQ(store.pending_trials(), 0);
  EXPECT_EQ(raw.integer(count), 4);
}

TEST(Store, ZeroMaxPendingAgeWritesEveryTrialAtOnceAndANegativeOneIsRefused) {
  TempDir dir;
  const std::string path = dir.file("results.db");
  Store store(path);
  store.set_max_pending_age(std::chrono::milliseconds(0));
  const int64_t run_id = store.begin_run(store.upsert_host(epyc_host()), stack_run());
  store.add_trial(run_id, trial(0, Outcome::kPass));
  EXPECT_EQ(store.pending_trials(), 0);
  EXPECT_EQ(RawDb(path).integer("SELECT COUNT(*) FROM trials"), 1);
  try {
    store.set_max_pending_age(std::chrono::milliseconds(-1));
    FAIL() << "a negative age was accepted";
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("max pending age must not be negative, got -1 ms"));
    EXPECT_THAT(e.what(), HasSubstr(path));
  }
}

TEST(Store, SummaryCountsRateAndWilson) {
  TempDir dir;
  Store store(dir.file("results.db"), /*batch_size=*/1000);
  const int64_t run_id = store.begin_run(store.upsert_host(epyc_host()), stack_run());
  int64_t index = 0;
  for (int i = 0; i < 70; ++i) store.add_trial(run_id, trial(index++, Outcome::kPass));
  for (int i = 0; i < 20; ++i) store.add_trial(run_id, trial(index++, Outcome::kFail, "modified"));
  for (int i = 0; i < 7; ++i) store.add_trial(run_id, trial(index++, Outcome::kTimeout, "timeout"));
  for (int i = 0; i < 3; ++i) store.add_trial(run_id, trial(index++, Outcome::kError, "seize failed"));
  ASSERT_EQ(store.pending_trials(), 100) << "nothing written yet; summarize must flush";

  const RunSummary summary = store.summarize(run_id);
  EXPECT_EQ(store.pending_trials(), 0);
  EXPECT_EQ(summary.run_id, run_id);
  EXPECT_EQ(summary.scenario, "compel/stack");
  EXPECT_EQ(summary.params, "adjacent_writer=on,check=legacy");
  EXPECT_EQ(summary.placement, "victim=0,injector=1");
  EXPECT_EQ(summary.trials, 100);
  EXPECT_EQ(summary.passes, 70);
  EXPECT_EQ(summary.failures, 20);
  EXPECT_EQ(summary.timeouts, 7);
  EXPECT_EQ(summary.errors, 3);
  EXPECT_DOUBLE_EQ(summary.rate, 0.27);
  // 27/100 at z = 1.96: [0.19270, 0.36432].
  EXPECT_NEAR(summary.wilson_low, 0.192696, 1e-6);
  EXPECT_NEAR(summary.wilson_high, 0.364321, 1e-6);
  ASSERT_EQ(summary.messages.size(), 3u);
  EXPECT_EQ(summary.messages[0].message, "modified");
  EXPECT_EQ(summary.messages[0].count, 20);
}

TEST(Store, SummaryOfRunWithoutTrials) {
  TempDir dir;
  Store store(dir.file("results.db"));
  const int64_t run_id = store.begin_run(store.upsert_host(epyc_host()), stack_run());
  const RunSummary summary = store.summarize(run_id);
  EXPECT_EQ(summary.trials, 0);
  EXPECT_EQ(summary.rate, 0.0);
  EXPECT_EQ(summary.wilson_low, 0.0);
  EXPECT_EQ(summary.wilson_high, 1.0);
  EXPECT_TRUE(summary.messages.empty());
  EXPECT_THROW(store.summarize(run_id + 1), StoreError);
}

TEST(Store, DistinctMessagesMostFrequentFirst) {
  TempDir dir;
  Store store(dir.file("results.db"));
  const int64_t run_id = store.begin_run(store.upsert_host(epyc_host()), stack_run());
  int64_t index = 0;
  auto add = [&](int n, Outcome outcome, const std::string& message) {
    for (int i = 0; i < n; ++i) store.add_trial(run_id, trial(index++, outcome, message));
  };
  add(3, Outcome::kError, "gamma");
  add(20, Outcome::kPass, "passes carry no failure message");
  add(3, Outcome::kTimeout, "alpha");
  add(5, Outcome::kFail, "beta");
  add(1, Outcome::kFail, "alpha");
  add(2, Outcome::kFail, "");

  const RunSummary summary = store.summarize(run_id);
  ASSERT_EQ(summary.messages.size(), 4u);
  EXPECT_EQ(summary.messages[0].message, "beta");
  EXPECT_EQ(summary.messages[0].count, 5);
  EXPECT_EQ(summary.messages[1].message, "alpha") << "same text merges across outcomes";
  EXPECT_EQ(summary.messages[1].count, 4);
  EXPECT_EQ(summary.messages[2].message, "gamma");
  EXPECT_EQ(summary.messages[2].count, 3);
  EXPECT_EQ(summary.messages[3].message, "");
  EXPECT_EQ(summary.messages[3].count, 2);
}

TEST(Store, EqualCountsAreOrderedByText) {
  TempDir dir;
  Store store(dir.file("results.db"));
  const int64_t run_id = store.begin_run(store.upsert_host(epyc_host()), stack_run());
  int64_t index = 0;
  for (const char* message : {"zeta", "eta", "theta", "eta", "zeta", "theta"}) {
    store.add_trial(run_id, trial(index++, Outcome::kFail, message));
  }
  const RunSummary summary = store.summarize(run_id);
  ASSERT_EQ(summary.messages.size(), 3u);
  EXPECT_EQ(summary.messages[0].message, "eta");
  EXPECT_EQ(summary.messages[1].message, "theta");
  EXPECT_EQ(summary.messages[2].message, "zeta");
}

TEST(Store, UsesWalAndForeignKeys) {
  TempDir dir;
  const std::string path = dir.file("results.db");
  Store store(path);
  const int64_t host_id = store.upsert_host(epyc_host());
  const int64_t run_id = store.begin_run(host_id, stack_run());
  store.add_trial(run_id, trial(0, Outcome::kPass));
  store.flush();

  RawDb raw(path);
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");  // persistent, so any connection sees it
  EXPECT_TRUE(std::filesystem::exists(path + "-wal"));
  EXPECT_EQ(raw.integer("PRAGMA user_version"), Store::kSchemaVersion);
  EXPECT_THROW(store.begin_run(host_id + 100, stack_run()), StoreError) << "runs.host_id FK";
  EXPECT_THROW(store.add_trial(run_id + 100, trial(0, Outcome::kPass)), StoreError);
  EXPECT_THROW(store.end_run(run_id + 100, 1), StoreError);
  EXPECT_THROW(store.run(run_id + 100), StoreError);
  EXPECT_THROW(store.host(host_id + 100), StoreError);
}

TEST(Store, CreatesTheDocumentedSchema) {
  TempDir dir;
  const std::string path = dir.file("results.db");
  { Store store(path); }
  RawDb raw(path);
  for (const char* table : {"hosts", "runs", "trials"}) {
    EXPECT_EQ(raw.integer(std::string("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '") +
                          table + "'"),
              1)
        << table;
  }
  for (const char* index : {"trials_by_run", "trials_by_outcome"}) {
    EXPECT_EQ(raw.integer(std::string("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = '") +
                          index + "'"),
              1)
        << index;
  }
}

TEST(Store, RefusesNewerSchemaNamingPathAndVersions) {
  TempDir dir;
  const std::string path = dir.file("future.db");
  {
    RawDb raw(path);
    ASSERT_EQ(raw.exec("CREATE TABLE from_the_future (x); PRAGMA user_version = 99;"), SQLITE_OK);
  }
  try {
    Store store(path);
    FAIL() << "opened a schema version 99 database";
  } catch (const StoreError& e) {
    const std::string what = e.what();
    EXPECT_THAT(what, HasSubstr(path));
    EXPECT_THAT(what, HasSubstr("schema version 99"));
    EXPECT_THAT(what, HasSubstr("version " + std::to_string(Store::kSchemaVersion) + ")"));
  }
  RawDb raw(path);
  EXPECT_EQ(raw.integer("PRAGMA user_version"), 99);
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "delete") << "a refused file is left untouched";
}

TEST(Store, RefusesForeignSqliteDatabase) {
  TempDir dir;
  const std::string path = dir.file("other.db");
  {
    RawDb raw(path);
    ASSERT_EQ(raw.exec("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)"), SQLITE_OK);
  }
  try {
    Store store(path);
    FAIL() << "adopted somebody else's database";
  } catch (const StoreError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("not a flakelab results database"));
  }
}

TEST(Store, GarbageFileGivesStoreError) {
  TempDir dir;
  const std::string path = dir.file("garbage.db");
  std::string garbage;
  for (int i = 0; i < 200; ++i) garbage += "this is not an SQLite database, just text. ";
  write_file(path, garbage);
  try {
    Store store(path);
    FAIL() << "opened a text file";
  } catch (const StoreError& e) {
    const std::string what = e.what();
    EXPECT_THAT(what, HasSubstr(path));
    EXPECT_THAT(what, HasSubstr("file is not a database"));
  }
  EXPECT_EQ(read_file(path), garbage) << "the file must not be modified";

  const std::string tiny = dir.file("tiny.db");
  write_file(tiny, "x");  // SQLite alone would take this for an empty database and overwrite it
  EXPECT_THROW(Store store(tiny), StoreError);
  EXPECT_EQ(read_file(tiny), "x");

  const std::string empty = dir.file("empty.db");
  write_file(empty, "");  // e.g. made by mkstemp: a new database, not garbage
  EXPECT_NO_THROW(Store store(empty));
}

TEST(Store, MissingDirectoryGivesStoreError) {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/results.db");
  try {
    Store store(path);
    FAIL() << "opened a file in a missing directory";
  } catch (const StoreError& e) {
    const std::string what = e.what();
    EXPECT_THAT(what, HasSubstr(path));
    EXPECT_THAT(what, HasSubstr("open"));
    EXPECT_THAT(what, HasSubstr("does not exist"));
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("no")));

  try {
    Store store(dir.path());  // a directory, not a file
    FAIL() << "opened a directory";
  } catch (const StoreError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("unable to open database file"));
  }
}

TEST(Store, RejectsBadBatchSize) {
  TempDir dir;
  EXPECT_THROW(Store(dir.file("results.db"), 0), StoreError);
  EXPECT_THROW(Store(dir.file("results.db"), -5), StoreError);
}

TEST(Store, OutcomeStringsRoundTrip) {
  for (Outcome outcome : {Outcome::kPass, Outcome::kFail, Outcome::kTimeout, Outcome::kError}) {
    const auto parsed = outcome_from_string(to_string(outcome));
    ASSERT_TRUE(parsed.has_value()) << to_string(outcome);
    EXPECT_EQ(*parsed, outcome);
  }
  EXPECT_STREQ(to_string(Outcome::kPass), "pass");
  EXPECT_STREQ(to_string(Outcome::kFail), "fail");
  EXPECT_STREQ(to_string(Outcome::kTimeout), "timeout");
  EXPECT_STREQ(to_string(Outcome::kError), "error");
  EXPECT_FALSE(outcome_from_string("PASS").has_value());
  EXPECT_FALSE(outcome_from_string("").has_value());
  EXPECT_FALSE(outcome_from_string("failed").has_value());

  TempDir dir;
  const std::string path = dir.file("results.db");
  Store store(path);
  const int64_t run_id = store.begin_run(store.upsert_host(epyc_host()), stack_run());
  store.add_trial(run_id, trial(0, Outcome::kPass));
  store.add_trial(run_id, trial(1, Outcome::kFail, "f"));
  store.add_trial(run_id, trial(2, Outcome::kTimeout, "t"));
  store.add_trial(run_id, trial(3, Outcome::kError, "e"));
  const auto read = store.trials(run_id);
  ASSERT_EQ(read.size(), 4u);
  EXPECT_EQ(read[0].outcome, Outcome::kPass);
  EXPECT_EQ(read[1].outcome, Outcome::kFail);
  EXPECT_EQ(read[2].outcome, Outcome::kTimeout);
  EXPECT_EQ(read[3].outcome, Outcome::kError);

  RawDb raw(path);
  EXPECT_EQ(raw.text("SELECT group_concat(outcome, ',') FROM (SELECT outcome FROM trials ORDER BY idx)"),
            "pass,fail,timeout,error");
  EXPECT_EQ(raw.exec("INSERT INTO trials (run_id, idx, outcome, duration_ms, cpus_used, message) "
                     "VALUES (" + std::to_string(run_id) + ", 99, 'flaky', 0, '', '')"),
            SQLITE_CONSTRAINT)
      << "the CHECK constraint keeps outcomes to the four known strings";

  EXPECT_THROW(store.add_trial(run_id, trial(4, static_cast<Outcome>(42))), StoreError);
  EXPECT_EQ(store.pending_trials(), 0);
}

TEST(Store, DuplicateTrialDropsOnlyThatRow) {
  TempDir dir;
  Store store(dir.file("results.db"), /*batch_size=*/100);
  const int64_t run_id = store.begin_run(store.upsert_host(epyc_host()), stack_run());
  for (int i = 0; i < 5; ++i) store.add_trial(run_id, trial(i, Outcome::kPass));
  store.add_trial(run_id, trial(2, Outcome::kFail, "recorded twice"));
  store.add_trial(run_id, trial(5, Outcome::kPass));
  try {
    store.flush();
    FAIL() << "a duplicate trial index was accepted";
  } catch (const StoreError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("trial 2 of run"));
    EXPECT_THAT(std::string(e.what()), HasSubstr("UNIQUE"));
  }
  EXPECT_EQ(store.pending_trials(), 6);
  store.flush();
  const auto read = store.trials(run_id);
  ASSERT_EQ(read.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(read[static_cast<size_t>(i)].index, i);
    EXPECT_EQ(read[static_cast<size_t>(i)].outcome, Outcome::kPass);
  }
}

TEST(Store, InMemoryDatabaseWorks) {
  Store store(":memory:");
  const int64_t run_id = store.begin_run(store.upsert_host(epyc_host()), stack_run());
  store.add_trial(run_id, trial(0, Outcome::kFail, "x"));
  EXPECT_EQ(store.summarize(run_id).failures, 1);
}

}  // namespace
}  // namespace flakelab::results
