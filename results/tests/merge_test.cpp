#include "flakelab/results/merge.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>

#include "fixtures.h"
#include "flakelab/results/query.h"
#include "raw_db.h"
#include "temp_dir.h"

namespace flakelab::results {
namespace {

using ::testing::HasSubstr;
using testing::RawDb;
using testing::TempDir;
using namespace testing;  // NOLINT: fixtures

constexpr int64_t kT0 = 1'763'900'000'000;

// Machine A: epyc, a flaky legacy run (first failure at t0+9) and an scm06 run.
void make_a(const std::string& path) {
  Store store(path, 50);
  const int64_t host = store.upsert_host(epyc());
  const int64_t r1 = store.begin_run(host, make_run("compel/stack", "check=legacy", "victim=0,injector=1", kT0));
  add_trials(store, r1, 100, 10, stack_message, kT0);  // 10 stack failures
  store.end_run(r1, kT0 + 1000);
  const int64_t r2 = store.begin_run(host, make_run("scm06", "restore_delay_us=0", "unpinned", kT0 + 5000));
  add_trials(store, r2, 20, 2, bind_message, kT0 + 5000);  // 10 bind failures
}

// Machine B: xeon plus the same epyc host identity; stack failures seen earlier than on A.
void make_b(const std::string& path) {
  Store store(path, 50);
  const int64_t xeon_host = store.upsert_host(xeon());
  const int64_t r = store.begin_run(xeon_host, make_run("compel/stack", "check=legacy", "victim=0,injector=1", kT0 - 500));
  add_trials(store, r, 40, 5, stack_message, kT0 - 500);  // 8 stack failures, first at kT0-496
  const int64_t epyc_host = store.upsert_host(epyc());
  const int64_t r2 = store.begin_run(epyc_host, make_run("compel/stack", "check=guard_zone", "victim=0,injector=1", kT0));
  add_trials(store, r2, 30, 0, stack_message);
  store.add_trial(r2, make_trial(30, Outcome::kError, "seize 77: EPERM", kT0 + 9999));
}

struct Counts3 {
  int64_t hosts, runs, trials, failures, signatures;
};
Counts3 counts(const std::string& path) {
  RawDb raw(path);
  return {raw.integer("SELECT count(*) FROM hosts"), raw.integer("SELECT count(*) FROM runs"),
          raw.integer("SELECT count(*) FROM trials"), raw.integer("SELECT count(*) FROM failures"),
          raw.integer("SELECT count(*) FROM signatures")};
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Merge, SkippedCellsTravelWithTheirHostAndAreKeptOnce) {
  TempDir dir;
  make_a(dir.file("a.db"));
  make_b(dir.file("b.db"));
  for (const char* name : {"a.db", "b.db"}) {
    Store store(dir.file(name));
    store.add_skipped_cell(store.upsert_host(xeon()), {"inv-x", "scm06", "restore_delay_us=0", "smt", "flaky",
                                                        "needs SMT siblings", kT0});
  }
  const std::string out = dir.file("all.db");
  merge(out, {dir.file("a.db"), dir.file("b.db")});
  merge(out, {dir.file("a.db")});  // again: idempotent
  Store store(out);
  const std::vector<SkippedCellRow> skipped = Query(store).skipped_cells();
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].cell.cpu_model, xeon().cpu_brand);
  EXPECT_EQ(skipped[0].reason, "needs SMT siblings");
  RawDb raw(out);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM skipped_cells"), 1);
}

TEST(Merge, CombinesDeduplicatesAndRecounts) {
  TempDir dir;
  make_a(dir.file("a.db"));
  make_b(dir.file("b.db"));
  const std::string out = dir.file("all.db");
  const MergeStats stats = merge(out, {dir.file("a.db"), dir.file("b.db")});
  EXPECT_EQ(stats.inputs, 2);
  EXPECT_EQ(stats.hosts_added, 2) << "epyc once, xeon once";
  EXPECT_EQ(stats.runs_added, 4);
  EXPECT_EQ(stats.trials_added, 120 + 71);
  EXPECT_EQ(stats.failures_added, 20 + 9);

  const Counts3 c = counts(out);
  EXPECT_EQ(c.hosts, 2);
  EXPECT_EQ(c.runs, 4);
  EXPECT_EQ(c.trials, 191);
  EXPECT_EQ(c.failures, 29);
  EXPECT_EQ(c.signatures, 3) << "stack signature unified across machines";

  RawDb raw(out);
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(raw.integer("SELECT count(*) FROM pragma_foreign_key_check"), 0);
  const std::string stack_hash = Normalizer().signature(stack_message(0)).hex();
  EXPECT_EQ(raw.integer("SELECT count FROM signatures WHERE hash = '" + stack_hash + "'"), 18);
  EXPECT_EQ(raw.integer("SELECT first_seen_ms FROM signatures WHERE hash = '" + stack_hash + "'"), kT0 - 496);
  EXPECT_EQ(raw.integer("SELECT last_seen_ms FROM signatures WHERE hash = '" + stack_hash + "'"), kT0 + 99);
  // Ids were remapped: every trial points at a run of the right host.
  EXPECT_EQ(raw.integer("SELECT count(*) FROM trials t JOIN runs r ON r.id = t.run_id JOIN hosts h ON "
                        "h.id = r.host_id WHERE h.cpu_brand LIKE 'Intel%'"),
            40);

  Store store(out);
  Query q(store);
  const auto rates = q.rates();
  ASSERT_EQ(rates.size(), 4u);
  EXPECT_EQ(rates[1].counts.failures, 10);  // legacy on epyc
  EXPECT_EQ(rates[2].counts.failures, 8);   // legacy on xeon
  // The same run keeps its uid across files.
  Store a(dir.file("a.db"));
  const std::string uid = a.run(1).run_uid;
  EXPECT_EQ(raw.integer("SELECT count(*) FROM runs WHERE run_uid = '" + uid + "'"), 1);
}

// The machine kind travels with its host and tells hosts apart: the same CPU under KVM with
// 2 vCPUs and with 8 vCPUs stays two hosts, each with its own runs.
TEST(Merge, KeepsTheMachineKindOfEachHost) {
  TempDir dir;
  HostInfo small = epyc();
  small.hypervisor = "KVM";
  small.vcpus = 2;
  HostInfo big = small;
  big.vcpus = 8;
  for (const auto& [name, host] : {std::pair{"small.db", small}, std::pair{"big.db", big}}) {
    Store store(dir.file(name));
    const int64_t id = store.upsert_host(host);
    const int64_t run = store.begin_run(id, make_run("scm06", "restore_delay_us=0", "unpinned", kT0));
    add_trials(store, run, 10, 5, bind_message, kT0);
  }
  const std::string out = dir.file("all.db");
  const MergeStats stats = merge(out, {dir.file("small.db"), dir.file("big.db")});
  EXPECT_EQ(stats.hosts_added, 2);
  EXPECT_EQ(stats.runs_added, 2);
  merge(out, {dir.file("big.db")});  // again: nothing new
  RawDb raw(out);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM hosts"), 2);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM hosts WHERE hypervisor = 'KVM'"), 2);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM runs r JOIN hosts h ON h.id = r.host_id WHERE h.vcpus = 8"), 1);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM runs r JOIN hosts h ON h.id = r.host_id WHERE h.vcpus = 2"), 1);
  Store store(out);
  EXPECT_EQ(store.host(store.upsert_host(big)).vcpus, 8);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM hosts"), 2) << "the merged host is found again, not added";
}

TEST(Merge, SameInputTwiceAddsNothing) {
  TempDir dir;
  make_a(dir.file("a.db"));
  make_b(dir.file("b.db"));
  const std::string out = dir.file("all.db");
  merge(out, {dir.file("a.db"), dir.file("b.db")});
  const Counts3 before = counts(out);
  const MergeStats again = merge(out, {dir.file("a.db"), dir.file("a.db"), dir.file("b.db")});
  EXPECT_EQ(again.runs_added, 0);
  EXPECT_EQ(again.trials_added, 0);
  EXPECT_EQ(again.failures_added, 0);
  EXPECT_EQ(again.runs_already_present, 2 + 2 + 2);
  EXPECT_EQ(again.trials_already_present, 120 + 120 + 71);
  const Counts3 after = counts(out);
  EXPECT_EQ(after.trials, before.trials);
  EXPECT_EQ(after.runs, before.runs);
  EXPECT_EQ(after.failures, before.failures);
  RawDb raw(out);
  EXPECT_EQ(raw.integer("SELECT sum(count) FROM signatures"), before.failures) << "counts not doubled";

  // A merged file merges into another without duplication too.
  const std::string out2 = dir.file("all2.db");
  merge(out2, {out, dir.file("a.db")});
  EXPECT_EQ(counts(out2).trials, before.trials);
}

TEST(Merge, RunRecordedFurtherAfterAnEarlierMergeGetsOnlyTheNewTrials) {
  TempDir dir;
  const std::string a = dir.file("a.db");
  const std::string out = dir.file("all.db");
  Store store(a, 10);
  const int64_t run = store.begin_run(store.upsert_host(epyc()), make_run("scm06", "", "unpinned", kT0));
  add_trials(store, run, 30, 3, bind_message, kT0);
  store.flush();
  merge(out, {a});
  for (int64_t i = 30; i < 50; ++i) store.add_trial(run, make_trial(i, Outcome::kFail, bind_message(i), kT0 + i));
  store.end_run(run, kT0 + 100);
  const MergeStats stats = merge(out, {a});
  EXPECT_EQ(stats.runs_added, 0);
  EXPECT_EQ(stats.trials_added, 20);
  EXPECT_EQ(stats.failures_added, 20);
  RawDb raw(out);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM trials"), 50);
  EXPECT_EQ(raw.integer("SELECT count FROM signatures"), 30);
  EXPECT_EQ(raw.integer("SELECT ended_at_ms FROM runs"), kT0 + 100) << "end time picked up";
}

TEST(Merge, OldSchemaInputsAreMigratedInACopyNotInPlace) {
  TempDir dir;
  const std::string v1 = dir.file("v1.db");
  {
    RawDb raw(v1);
    ASSERT_EQ(raw.exec("CREATE TABLE hosts (id INTEGER PRIMARY KEY, hostname TEXT NOT NULL, cpu_vendor TEXT NOT "
                       "NULL, cpu_brand TEXT NOT NULL, cpu_family INTEGER NOT NULL, cpu_model INTEGER NOT NULL, "
                       "cpu_stepping INTEGER NOT NULL, cpu_codename TEXT NOT NULL, kernel TEXT NOT NULL, microcode "
                       "TEXT NOT NULL, UNIQUE (hostname, cpu_vendor, cpu_brand, cpu_family, cpu_model, "
                       "cpu_stepping, cpu_codename, kernel, microcode));"
                       "CREATE TABLE runs (id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL REFERENCES hosts(id), "
                       "scenario TEXT NOT NULL, params TEXT NOT NULL, placement TEXT NOT NULL, seed TEXT NOT NULL, "
                       "command_line TEXT NOT NULL, version TEXT NOT NULL, started_at_ms INTEGER NOT NULL, "
                       "ended_at_ms INTEGER);"
                       "CREATE TABLE trials (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), "
                       "idx INTEGER NOT NULL, outcome TEXT NOT NULL CHECK (outcome IN ('pass', 'fail', 'timeout', "
                       "'error')), duration_ms REAL NOT NULL, cpus_used TEXT NOT NULL, message TEXT NOT NULL);"
                       "CREATE UNIQUE INDEX trials_by_run ON trials(run_id, idx);"
                       "CREATE INDEX trials_by_outcome ON trials(outcome, run_id);"
                       "INSERT INTO hosts VALUES (1, 'old', 'v', 'b', 1, 2, 3, 'c', 'k', 'm');"
                       "INSERT INTO runs VALUES (1, 1, 's', '', '', '1', 'cmd', '0.1.0', 10, 20);"
                       "INSERT INTO trials VALUES (1, 1, 0, 'fail', 1, '', 'boom 17'), (2, 1, 1, 'pass', 1, '', '');"
                       "PRAGMA user_version = 1;"),
              SQLITE_OK);
  }
  const std::string before = file_bytes(v1);
  const std::string out = dir.file("all.db");
  merge(out, {v1});
  merge(out, {v1});
  EXPECT_EQ(file_bytes(v1), before) << "the input was modified";
  RawDb raw(out);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM trials"), 2) << "v1 run uids are stable, so no duplicates";
  EXPECT_EQ(raw.integer("SELECT count(*) FROM failures"), 1);
  EXPECT_EQ(raw.text("SELECT normalized FROM signatures"), "boom <n>");
}

TEST(Merge, RefusesBadInputs) {
  TempDir dir;
  make_a(dir.file("a.db"));
  try {
    merge(dir.file("a.db"), {dir.file("a.db")});
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("is the output file"));
  }
  EXPECT_THROW(merge(dir.file("out.db"), {dir.file("missing.db")}), StoreError);
  {
    RawDb raw(dir.file("future.db"));
    raw.exec("CREATE TABLE x (y); PRAGMA user_version = 99;");
  }
  try {
    merge(dir.file("out.db"), {dir.file("future.db")});
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("schema version 99"));
  }
  {
    std::ofstream garbage(dir.file("garbage.db"));
    garbage << std::string(2000, 'x');
  }
  EXPECT_THROW(merge(dir.file("out.db"), {dir.file("garbage.db")}), StoreError);
}

}  // namespace
}  // namespace flakelab::results
