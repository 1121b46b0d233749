// Schema v2: migration from v1 files, failures/signatures written with each batch, new run columns.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <cctype>
#include <set>
#include <string>

#include "fixtures.h"
#include "flakelab/results/store.h"
#include "raw_db.h"
#include "temp_dir.h"

namespace flakelab::results {
namespace {

using testing::RawDb;
using testing::TempDir;
using namespace testing;  // NOLINT: fixtures

// The v1 schema exactly as flakelab 0.1 (schema version 1) created it.
constexpr const char* kV1Schema = R"sql(
CREATE TABLE hosts (
  id           INTEGER PRIMARY KEY,
  hostname     TEXT NOT NULL,
  cpu_vendor   TEXT NOT NULL,
  cpu_brand    TEXT NOT NULL,
  cpu_family   INTEGER NOT NULL,
  cpu_model    INTEGER NOT NULL,
  cpu_stepping INTEGER NOT NULL,
  cpu_codename TEXT NOT NULL,
  kernel       TEXT NOT NULL,
  microcode    TEXT NOT NULL,
  UNIQUE (hostname, cpu_vendor, cpu_brand, cpu_family, cpu_model, cpu_stepping,
          cpu_codename, kernel, microcode)
);
CREATE TABLE runs (
  id            INTEGER PRIMARY KEY,
  host_id       INTEGER NOT NULL REFERENCES hosts(id),
  scenario      TEXT NOT NULL,
  params        TEXT NOT NULL,
  placement     TEXT NOT NULL,
  seed          TEXT NOT NULL,
  command_line  TEXT NOT NULL,
  version       TEXT NOT NULL,
  started_at_ms INTEGER NOT NULL,
  ended_at_ms   INTEGER
);
CREATE INDEX runs_by_host ON runs(host_id);
CREATE TABLE trials (
  id          INTEGER PRIMARY KEY,
  run_id      INTEGER NOT NULL REFERENCES runs(id),
  idx         INTEGER NOT NULL,
  outcome     TEXT NOT NULL CHECK (outcome IN ('pass', 'fail', 'timeout', 'error')),
  duration_ms REAL NOT NULL,
  cpus_used   TEXT NOT NULL,
  message     TEXT NOT NULL
);
CREATE UNIQUE INDEX trials_by_run ON trials(run_id, idx);
CREATE INDEX trials_by_outcome ON trials(outcome, run_id);
PRAGMA user_version = 1;
)sql";

// A v1 file with 2 runs: 100 trials of compel/stack (10 failing, 2 messages shapes), and
// 50 of scm06 (5 bind failures, 1 timeout without message).
std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

void make_v1_db(const std::string& path) {
  RawDb raw(path);
  ASSERT_EQ(raw.exec("PRAGMA journal_mode = WAL"), SQLITE_OK);
  ASSERT_EQ(raw.exec(kV1Schema), SQLITE_OK);
  ASSERT_EQ(raw.exec("INSERT INTO hosts VALUES (1, 'old-box', 'AuthenticAMD', 'AMD EPYC 7763 64-Core Processor', "
                     "25, 1, 1, 'Milan', '6.1.0', '')"),
            SQLITE_OK);
  ASSERT_EQ(raw.exec("INSERT INTO runs VALUES (1, 1, 'compel/stack', 'check=legacy', 'victim=0,injector=1', "
                     "'18446744073709551615', 'flakelab run', '0.1.0', 1700000000000, 1700000100000), "
                     "(2, 1, 'scm06', 'restore_delay_us=0', 'unpinned', '7', 'flakelab run', '0.1.0', "
                     "1700000200000, NULL)"),
            SQLITE_OK);
  std::string sql = "BEGIN;";
  for (int i = 0; i < 100; ++i) {
    std::string outcome = i % 10 == 9 ? "fail" : "pass";
    std::string message = outcome == "pass" ? "" : (i % 20 == 19 ? stack_message(i) : "Trimmed message received (" + std::to_string(i) + "/0)");
    sql += "INSERT INTO trials (run_id, idx, outcome, duration_ms, cpus_used, message) VALUES (1, " +
           std::to_string(i) + ", '" + outcome + "', 1.5, 'victim=0', " + quote(message) + ");";
  }
  for (int i = 0; i < 50; ++i) {
    std::string outcome = i % 10 == 0 ? "fail" : (i == 7 ? "timeout" : "pass");
    std::string message = outcome == "fail" ? bind_message(i) : "";
    sql += "INSERT INTO trials (run_id, idx, outcome, duration_ms, cpus_used, message) VALUES (2, " +
           std::to_string(i) + ", '" + outcome + "', 2.5, '', " + quote(message) + ");";
  }
  sql += "COMMIT;";
  ASSERT_EQ(raw.exec(sql), SQLITE_OK);
}

// 8-4-4-4-12 lowercase hex, version 4 or 8, RFC variant (no <regex>: see results/CMakeLists.txt).
bool is_uuid(const std::string& text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return (text[14] == '4' || text[14] == '8') && std::string("89ab").find(text[19]) != std::string::npos;
}

// Collapses SQL comments and whitespace, so DDL with and without comments compares equal.
std::string strip_sql(const std::string& sql) {
  std::string out;
  bool space = false;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    if (sql.compare(i, 2, "--") == 0) {
      while (i < sql.size() && sql[i] != '\n') ++i;
      space = true;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(sql[i]))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += sql[i];
  }
  return out;
}

TEST(Schema, MigratesV1InPlaceKeepingData) {
  TempDir dir;
  const std::string path = dir.file("v1.db");
  make_v1_db(path);
  {
    RawDb raw(path);
    ASSERT_EQ(raw.integer("PRAGMA user_version"), 1);
  }
  Store store(path);
  EXPECT_EQ(store.schema_version(), Store::kSchemaVersion);
  EXPECT_EQ(store.run_ids(), (std::vector<int64_t>{1, 2}));
  const auto trials = store.trials(1);
  ASSERT_EQ(trials.size(), 100u);
  EXPECT_EQ(trials[19].message, stack_message(19));
  EXPECT_EQ(store.run(1).info.seed, 18446744073709551615ULL);
  EXPECT_EQ(store.summarize(2).failures, 5);
  EXPECT_EQ(store.summarize(2).timeouts, 1);

  RawDb raw(path);
  EXPECT_EQ(raw.integer("PRAGMA user_version"), Store::kSchemaVersion);
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(raw.integer("SELECT count(*) FROM pragma_foreign_key_check"), 0);
  // Failures backfilled: every non-pass trial with a message (15), not the bare timeout.
  EXPECT_EQ(raw.integer("SELECT count(*) FROM failures"), 15);
  // Three signatures: stack (5), trimmed (5), bind (5); counts match the failures.
  EXPECT_EQ(raw.integer("SELECT count(*) FROM signatures"), 3);
  EXPECT_EQ(raw.text("SELECT group_concat(count, ',') FROM (SELECT count FROM signatures ORDER BY count)"), "5,5,5");
  EXPECT_EQ(raw.integer("SELECT count(*) FROM signatures s WHERE count <> "
                        "(SELECT count(*) FROM failures f WHERE f.signature_id = s.id)"),
            0);
  EXPECT_EQ(raw.integer("SELECT first_seen_ms FROM signatures WHERE normalized LIKE 'unix:%'"), 1700000200000);
  // Every run has a unique uid.
  EXPECT_EQ(raw.integer("SELECT count(DISTINCT run_uid) FROM runs WHERE run_uid IS NOT NULL"), 2);
  EXPECT_TRUE(is_uuid(store.run(1).run_uid)) << store.run(1).run_uid;
  EXPECT_FALSE(store.run(1).info.shard.has_value());
  EXPECT_FALSE(store.run(1).info.campaign_hash.has_value());

  // New trials after the migration are recorded as usual.
  store.add_trial(2, make_trial(50, Outcome::kFail, bind_message(50)));
  store.flush();
  EXPECT_EQ(raw.integer("SELECT count FROM signatures WHERE normalized LIKE 'unix:%'"), 6);
}

TEST(Schema, MigratedRunUidsAreStableAcrossCopies) {
  TempDir dir;
  make_v1_db(dir.file("a.db"));
  std::filesystem::copy_file(dir.file("a.db"), dir.file("b.db"));
  Store a(dir.file("a.db"));
  Store b(dir.file("b.db"));
  EXPECT_EQ(a.run(1).run_uid, b.run(1).run_uid);
  EXPECT_EQ(a.run(2).run_uid, b.run(2).run_uid);
  EXPECT_NE(a.run(1).run_uid, a.run(2).run_uid);
}

TEST(Schema, FreshAndMigratedSchemasAreIdentical) {
  TempDir dir;
  make_v1_db(dir.file("old.db"));
  { Store migrated(dir.file("old.db")); }
  { Store fresh(dir.file("new.db")); }
  // Comments and layout aside (the test's copy of the v1 DDL has no comments).
  auto schema = [](const std::string& path) {
    RawDb raw(path);
    const std::string text = raw.text("SELECT group_concat(type || ' ' || name || ': ' || coalesce(sql, ''), char(10)) FROM "
                    "(SELECT * FROM sqlite_schema ORDER BY type, name)");
    return strip_sql(text);
  };
  EXPECT_EQ(schema(dir.file("old.db")), schema(dir.file("new.db")));
  RawDb raw(dir.file("new.db"));
  for (const char* table : {"hosts", "runs", "trials", "failures", "signatures"}) {
    EXPECT_EQ(raw.integer(std::string("SELECT count(*) FROM sqlite_schema WHERE type='table' AND name='") + table +
                          "'"),
              1)
        << table;
  }
  for (const char* index : {"failures_by_signature", "runs_by_uid", "runs_by_cell", "runs_by_start"}) {
    EXPECT_EQ(raw.integer(std::string("SELECT count(*) FROM sqlite_schema WHERE type='index' AND name='") + index +
                          "'"),
              1)
        << index;
  }
}

TEST(Schema, FailingTrialsGetFailureRowsAndSignaturesInTheSameBatch) {
  TempDir dir;
  const std::string path = dir.file("r.db");
  Store store(path, /*batch_size=*/10);
  const int64_t run_id = store.begin_run(store.upsert_host(epyc()), make_run("scm06", "", "unpinned", 1000));
  TrialRecord with_log = make_trial(0, Outcome::kFail, bind_message(1), 5000);
  with_log.log_excerpt = "restore: bind\nEADDRINUSE";
  with_log.artifact_path = "/var/lib/flakelab/artifacts/run1/trial0";
  store.add_trial(run_id, with_log);
  store.add_trial(run_id, make_trial(1, Outcome::kPass, "", 5001));
  store.add_trial(run_id, make_trial(2, Outcome::kTimeout, "trial exceeded 5000 ms", 5002));
  store.add_trial(run_id, make_trial(3, Outcome::kError, "", 5003));  // no message: no failures row
  store.add_trial(run_id, make_trial(4, Outcome::kError, "seize 4242: EPERM", 5004));
  store.add_trial(run_id, make_trial(5, Outcome::kFail, bind_message(2), 3000));
  store.add_trial(run_id, make_trial(6, Outcome::kFail, bind_message(3), 9000));

  RawDb raw(path);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM failures"), 0) << "nothing written before the batch";
  store.flush();
  EXPECT_EQ(raw.integer("SELECT count(*) FROM trials"), 7);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM failures"), 5);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM signatures"), 3);
  EXPECT_EQ(raw.integer("SELECT count FROM signatures WHERE normalized LIKE 'unix:%'"), 3);
  EXPECT_EQ(raw.integer("SELECT first_seen_ms FROM signatures WHERE normalized LIKE 'unix:%'"), 3000);
  EXPECT_EQ(raw.integer("SELECT last_seen_ms FROM signatures WHERE normalized LIKE 'unix:%'"), 9000);
  EXPECT_EQ(raw.text("SELECT hash FROM signatures WHERE normalized LIKE 'unix:%'"),
            Normalizer().signature(bind_message(1)).hex());

  // Across batches the upsert accumulates.
  store.add_trial(run_id, make_trial(7, Outcome::kFail, bind_message(7), 100));
  store.flush();
  EXPECT_EQ(raw.integer("SELECT count FROM signatures WHERE normalized LIKE 'unix:%'"), 4);
  EXPECT_EQ(raw.integer("SELECT first_seen_ms FROM signatures WHERE normalized LIKE 'unix:%'"), 100);

  const auto trials = store.trials(run_id);
  ASSERT_EQ(trials.size(), 8u);
  EXPECT_EQ(trials[0].log_excerpt, "restore: bind\nEADDRINUSE");
  EXPECT_EQ(trials[0].artifact_path, "/var/lib/flakelab/artifacts/run1/trial0");
  EXPECT_EQ(trials[0].finished_at_ms, 5000);
  EXPECT_EQ(trials[1].finished_at_ms, 5001) << "a pass has no failures row, but its time is kept";
  EXPECT_EQ(trials[3].finished_at_ms, 5003) << "an error without a message too";
  EXPECT_EQ(raw.integer("SELECT count(*) FROM pragma_foreign_key_check"), 0);
}

TEST(Schema, DuplicateTrialRollsBackItsFailureRowsToo) {
  TempDir dir;
  const std::string path = dir.file("r.db");
  Store store(path, 100);
  const int64_t run_id = store.begin_run(store.upsert_host(epyc()), make_run("scm06", "", "unpinned", 1000));
  store.add_trial(run_id, make_trial(0, Outcome::kFail, "a 1"));
  store.add_trial(run_id, make_trial(0, Outcome::kFail, "a 2"));
  EXPECT_THROW(store.flush(), StoreError);
  store.flush();
  RawDb raw(path);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM failures"), 1);
  EXPECT_EQ(raw.integer("SELECT count FROM signatures"), 1);
}

TEST(Schema, RunSummaryClustersFailuresBySignature) {
  TempDir dir;
  Store store(dir.file("r.db"));
  const int64_t run_id = store.begin_run(store.upsert_host(epyc()), make_run("scm06", "", "unpinned", 1));
  for (int i = 0; i < 6; ++i) store.add_trial(run_id, make_trial(i, Outcome::kFail, bind_message(i)));
  store.add_trial(run_id, make_trial(6, Outcome::kTimeout, "Trimmed message received (12/0)"));
  store.add_trial(run_id, make_trial(7, Outcome::kFail, ""));  // no message: no signature
  store.add_trial(run_id, make_trial(8, Outcome::kPass));
  const RunSummary summary = store.summarize(run_id);
  EXPECT_EQ(summary.messages.size(), 8u) << "raw messages stay distinct";
  ASSERT_EQ(summary.signatures.size(), 2u);
  EXPECT_EQ(summary.signatures[0].count, 6);
  EXPECT_EQ(summary.signatures[0].hash, Normalizer().signature(bind_message(0)).hex());
  EXPECT_EQ(summary.signatures[1].normalized, "Trimmed message received (<n>/<n>)");
}

// A v2 file (as flakelab wrote it before runs.invocation/artifacts_dir) is upgraded in
// place: its runs keep their data, the new columns read as unset, new runs fill them.
TEST(Schema, MigratesV2ToV3KeepingRuns) {
  TempDir dir;
  const std::string path = dir.file("v2.db");
  int64_t old_run = 0;
  {
    Store store(path);
    old_run = store.begin_run(store.upsert_host(epyc()), make_run("compel/stack", "check=legacy", "same-pu", 7));
    store.add_trial(old_run, make_trial(0, Outcome::kFail, stack_message(0)));
    store.flush();
  }
  {
    // Back to exactly the v2 layout.
    RawDb raw(path);
    ASSERT_EQ(raw.exec("DROP INDEX runs_by_invocation; ALTER TABLE runs DROP COLUMN invocation; "
                       "ALTER TABLE runs DROP COLUMN artifacts_dir; ALTER TABLE runs DROP COLUMN expect; "
                       "ALTER TABLE runs DROP COLUMN shard_group; ALTER TABLE runs DROP COLUMN planned_trials; "
                       "DROP TABLE skipped_cells; ALTER TABLE trials DROP COLUMN finished_at_ms; PRAGMA user_version = 2;"),
              SQLITE_OK);
  }
  Store store(path);
  EXPECT_EQ(store.schema_version(), Store::kSchemaVersion);
  const RunRecord old = store.run(old_run);
  EXPECT_EQ(old.info.scenario, "compel/stack");
  EXPECT_EQ(old.info.placement, "same-pu");
  EXPECT_FALSE(old.info.invocation.has_value());
  EXPECT_FALSE(old.info.artifacts_dir.has_value());
  EXPECT_EQ(store.summarize(old_run).failures, 1);
  RunInfo info = make_run("compel/stack", "check=legacy", "same-pu", 8);
  info.invocation = "inv-1";
  info.artifacts_dir = "/tmp/artifacts/run-2";
  const int64_t fresh = store.begin_run(store.upsert_host(epyc()), info);
  EXPECT_EQ(store.run(fresh).info.invocation, "inv-1");
  EXPECT_EQ(store.run(fresh).info.artifacts_dir, "/tmp/artifacts/run-2");
  RawDb raw(path);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM sqlite_schema WHERE type='index' AND name='runs_by_invocation'"), 1);
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
}

// A v3 file (before runs.expect/shard_group/planned_trials) is upgraded in place: old runs
// read their expectation as unknown, new runs record it; a bad expect value is refused.
TEST(Schema, MigratesV3ToV4KeepingRuns) {
  TempDir dir;
  const std::string path = dir.file("v3.db");
  int64_t old_run = 0;
  {
    Store store(path);
    RunInfo info = make_run("compel/stack", "check=fixed", "same-l3", 7);
    info.shard = "1/2";
    info.campaign_hash = "00c0ffee00c0ffee";
    old_run = store.begin_run(store.upsert_host(epyc()), info);
    store.add_trial(old_run, make_trial(0, Outcome::kPass));
    store.flush();
  }
  {
    RawDb raw(path);
    ASSERT_EQ(raw.exec("ALTER TABLE runs DROP COLUMN expect; ALTER TABLE runs DROP COLUMN shard_group; "
                       "ALTER TABLE runs DROP COLUMN planned_trials; DROP TABLE skipped_cells; "
                       "ALTER TABLE trials DROP COLUMN finished_at_ms; PRAGMA user_version = 3;"),
              SQLITE_OK);
    ASSERT_EQ(raw.integer("SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'expect'"), 0);
  }
  Store store(path);
  EXPECT_EQ(store.schema_version(), Store::kSchemaVersion);
  const RunRecord old = store.run(old_run);
  EXPECT_EQ(old.info.shard, "1/2");
  EXPECT_FALSE(old.info.expect.has_value());
  EXPECT_FALSE(old.info.shard_group.has_value());
  EXPECT_FALSE(old.info.planned_trials.has_value());
  EXPECT_EQ(store.summarize(old_run).passes, 1);
  RunInfo info = make_run("compel/stack", "check=legacy", "same-l3", 8);
  info.expect = "flaky";
  info.shard = "2/2";
  info.shard_group = "ubuntu-24.04";
  info.planned_trials = 500;
  const RunRecord fresh = store.run(store.begin_run(store.upsert_host(epyc()), info));
  EXPECT_EQ(fresh.info.expect, "flaky");
  EXPECT_EQ(fresh.info.shard_group, "ubuntu-24.04");
  EXPECT_EQ(fresh.info.planned_trials, 500);
  info.expect = "sometimes";
  EXPECT_THROW(store.begin_run(store.upsert_host(epyc()), info), StoreError);
  RawDb raw(path);
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
}

TEST(Schema, RunColumnsForSharding) {
  TempDir dir;
  Store store(dir.file("r.db"));
  RunInfo info = make_run("scm06", "restore_delay_us=100", "unpinned", 1000);
  info.cell = "scm06/delay-100";
  info.shard = "3/8";
  info.campaign_hash = "c0ffee";
  const int64_t host = store.upsert_host(epyc());
  const int64_t a = store.begin_run(host, info);
  const int64_t b = store.begin_run(host, make_run("scm06", "", "unpinned", 2000));
  const RunRecord ra = store.run(a);
  EXPECT_EQ(ra.info.cell, "scm06/delay-100");
  EXPECT_EQ(ra.info.shard, "3/8");
  EXPECT_EQ(ra.info.campaign_hash, "c0ffee");
  EXPECT_FALSE(store.run(b).info.shard.has_value());
  EXPECT_TRUE(is_uuid(ra.run_uid)) << ra.run_uid;
  EXPECT_NE(ra.run_uid, store.run(b).run_uid);
}

TEST(Schema, ProjectMasksApplyToStoredSignatures) {
  TempDir dir;
  const std::string path = dir.file("r.db");
  Store store(path, 16,
              Normalizer::from_config_string("[[mask]]\npattern = \"victim-[a-z]+\"\nreplace = \"<victim>\"\n",
                                             "masks.toml"));
  const int64_t run_id = store.begin_run(store.upsert_host(epyc()), make_run("x", "", "", 1));
  store.add_trial(run_id, make_trial(0, Outcome::kFail, "victim-alpha died"));
  store.add_trial(run_id, make_trial(1, Outcome::kFail, "victim-beta died"));
  store.flush();
  RawDb raw(path);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM signatures"), 1);
  EXPECT_EQ(raw.text("SELECT normalized FROM signatures"), "<victim> died");
}

TEST(Schema, Version4GainsSkippedCells) {
  TempDir dir;
  const std::string path = dir.file("v4.db");
  { Store store(path); }
  {
    RawDb raw(path);
    ASSERT_EQ(raw.exec("DROP TABLE skipped_cells; ALTER TABLE trials DROP COLUMN finished_at_ms; PRAGMA user_version = 4;"), SQLITE_OK);
  }
  Store store(path);
  EXPECT_EQ(store.schema_version(), Store::kSchemaVersion);
  const int64_t host = store.upsert_host(epyc());
  SkippedCell cell{"inv", "scm06", "unix_gc_wait=0", "smt", "flaky", "no SMT here", 5};
  store.add_skipped_cell(host, cell);
  store.add_skipped_cell(host, cell);
  cell.expect = "sometimes";
  EXPECT_THROW(store.add_skipped_cell(host, cell), StoreError);
  RawDb raw(path);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM skipped_cells"), 1);
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
}

// v5 -> v6: hosts gain hypervisor and vcpus, part of the host's identity. The hosts table is
// rebuilt, so its ids, and the runs and skipped cells that refer to them, must survive.
TEST(Schema, Version5GainsTheMachineKind) {
  TempDir dir;
  const std::string path = dir.file("v5.db");
  int64_t old_host = 0;
  {
    Store store(path);
    store.upsert_host(xeon());  // id 1: the epyc's id is not the first
    old_host = store.upsert_host(epyc());
    const int64_t run = store.begin_run(old_host, make_run("scm06", "unix_gc_wait=0", "smt", 1000));
    store.add_trial(run, make_trial(0, Outcome::kFail, "victim died", 1000));
    store.add_skipped_cell(old_host, {"inv", "scm06", "unix_gc_wait=0", "l3", "flaky", "one L3", 1000});
  }
  {
    // Back to the v5 hosts table, as flakelab 5 left it.
    RawDb raw(path);
    ASSERT_EQ(raw.exec("CREATE TABLE hosts_v5 (id INTEGER PRIMARY KEY, hostname TEXT NOT NULL, cpu_vendor TEXT NOT "
                       "NULL, cpu_brand TEXT NOT NULL, cpu_family INTEGER NOT NULL, cpu_model INTEGER NOT NULL, "
                       "cpu_stepping INTEGER NOT NULL, cpu_codename TEXT NOT NULL, kernel TEXT NOT NULL, microcode "
                       "TEXT NOT NULL, UNIQUE (hostname, cpu_vendor, cpu_brand, cpu_family, cpu_model, "
                       "cpu_stepping, cpu_codename, kernel, microcode));"
                       "INSERT INTO hosts_v5 SELECT id, hostname, cpu_vendor, cpu_brand, cpu_family, cpu_model, "
                       "cpu_stepping, cpu_codename, kernel, microcode FROM hosts;"
                       "DROP TABLE hosts; ALTER TABLE hosts_v5 RENAME TO hosts; ALTER TABLE trials DROP COLUMN finished_at_ms; "
                       "PRAGMA user_version = 5;"),
              SQLITE_OK);
    ASSERT_EQ(raw.integer("SELECT count(*) FROM pragma_table_info('hosts') WHERE name = 'vcpus'"), 0);
  }
  Store store(path);
  EXPECT_EQ(store.schema_version(), Store::kSchemaVersion);
  const HostInfo migrated = store.host(old_host);
  EXPECT_EQ(migrated.cpu_brand, epyc().cpu_brand);
  EXPECT_EQ(migrated.hypervisor, "") << "unknown before v6";
  EXPECT_EQ(migrated.vcpus, 0);
  EXPECT_EQ(store.upsert_host(epyc()), old_host) << "the same host, as recorded before v6";
  EXPECT_EQ(store.run(1).host_id, old_host) << "the run still points at its host";
  EXPECT_EQ(store.run(1).info.scenario, "scm06");

  // The same CPU as a 2-vCPU KVM guest and as a 4-vCPU one are three machine kinds, not one.
  HostInfo guest = epyc();
  guest.hypervisor = "KVM";
  guest.vcpus = 2;
  const int64_t small = store.upsert_host(guest);
  guest.vcpus = 4;
  const int64_t big = store.upsert_host(guest);
  EXPECT_NE(small, old_host);
  EXPECT_NE(big, small);
  EXPECT_EQ(store.upsert_host(guest), big);
  EXPECT_EQ(store.host(big).hypervisor, "KVM");
  EXPECT_EQ(store.host(big).vcpus, 4);

  RawDb raw(path);
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(raw.integer("SELECT count(*) FROM pragma_foreign_key_check"), 0);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM skipped_cells WHERE host_id = " + std::to_string(old_host)), 1);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM runs r JOIN hosts h ON h.id = r.host_id WHERE h.cpu_brand LIKE "
                        "'AMD%'"),
            1);
}

// v6 -> v7: trials gain finished_at_ms; a failing trial's comes from its failures row, an
// older pass has none (read as 0); a trial recorded from v7 on always has one.
TEST(Schema, Version6TrialsGainTheirFinishTime) {
  TempDir dir;
  const std::string path = dir.file("v6.db");
  int64_t run = 0;
  {
    Store store(path);
    run = store.begin_run(store.upsert_host(epyc()), make_run("scm06", "unix_gc_wait=0", "smt", 1000));
    store.add_trial(run, make_trial(0, Outcome::kFail, "victim died", 7000));
    store.add_trial(run, make_trial(1, Outcome::kPass, "", 8000));
  }
  {
    RawDb raw(path);
    ASSERT_EQ(raw.exec("ALTER TABLE trials DROP COLUMN finished_at_ms; PRAGMA user_version = 6;"), SQLITE_OK);
  }
  Store store(path);
  EXPECT_EQ(store.schema_version(), Store::kSchemaVersion);
  store.add_trial(run, make_trial(2, Outcome::kPass));  // 0: the time add_trial() is called
  const auto trials = store.trials(run);
  ASSERT_EQ(trials.size(), 3u);
  EXPECT_EQ(trials[0].finished_at_ms, 7000) << "backfilled from the failures row";
  EXPECT_EQ(trials[1].finished_at_ms, 0) << "a pass recorded before v7 has no time";
  EXPECT_GT(trials[2].finished_at_ms, 1'600'000'000'000) << "stamped when recorded";
}

}  // namespace
}  // namespace flakelab::results
