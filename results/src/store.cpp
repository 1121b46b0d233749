// The results store: one sqlite3 connection per Store; the schema, its migrations and the
// write path. (Read-only queries live in query.cpp, merging in merge.cpp; the sqlite3 helpers
// they share are in store_internal.h.)
#include "flakelab/results/store.h"
#include "flakelab/results/stats.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "store_internal.h"

namespace flakelab::results {

const char* to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::kPass:
      return "pass";
    case Outcome::kFail:
      return "fail";
    case Outcome::kTimeout:
      return "timeout";
    case Outcome::kError:
      return "error";
  }
  return "invalid";  // only for a value cast from outside the enum
}

std::optional<Outcome> outcome_from_string(const std::string& text) {
  for (Outcome outcome : {Outcome::kPass, Outcome::kFail, Outcome::kTimeout, Outcome::kError}) {
    if (text == to_string(outcome)) return outcome;
  }
  return std::nullopt;
}

namespace {

// Schema history. Each entry upgrades the previous version; a new version appends an entry
// (never edits an old one) and bumps Store::kSchemaVersion.
struct Migration {
  int version;
  const char* sql;
  // Runs after `sql` in the same transaction, for steps SQL cannot do (may be null).
  void (*backfill)(sqlite3* db, const std::string& path, const Normalizer& normalizer);
};

void backfill_v2(sqlite3* db, const std::string& path, const Normalizer& normalizer);

constexpr Migration kMigrations[] = {
    {1, R"sql(
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
  -- Lets concurrent writers agree on one row per identical host.
  UNIQUE (hostname, cpu_vendor, cpu_brand, cpu_family, cpu_model, cpu_stepping,
          cpu_codename, kernel, microcode)
);
CREATE TABLE runs (
  id            INTEGER PRIMARY KEY,
  host_id       INTEGER NOT NULL REFERENCES hosts(id),
  scenario      TEXT NOT NULL,
  params        TEXT NOT NULL,
  placement     TEXT NOT NULL,
  seed          TEXT NOT NULL,  -- decimal: a uint64 does not fit SQLite's signed INTEGER
  command_line  TEXT NOT NULL,
  version       TEXT NOT NULL,
  started_at_ms INTEGER NOT NULL,
  ended_at_ms   INTEGER         -- NULL while running, or if the run never ended
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
-- Unique: recording the same trial twice is a harness bug worth an error.
CREATE UNIQUE INDEX trials_by_run ON trials(run_id, idx);
CREATE INDEX trials_by_outcome ON trials(outcome, run_id);
)sql", nullptr},
    {2, R"sql(
-- One row per distinct normalized failure message (see signature.h).
CREATE TABLE signatures (
  id            INTEGER PRIMARY KEY,
  hash          TEXT NOT NULL UNIQUE,   -- 16 hex digits of FNV-1a 64 of `normalized`
  normalized    TEXT NOT NULL,
  first_seen_ms INTEGER NOT NULL,       -- min failures.recorded_at_ms
  last_seen_ms  INTEGER NOT NULL,       -- max failures.recorded_at_ms
  count         INTEGER NOT NULL        -- number of failures rows
);
-- One row per non-pass trial that has a message.
CREATE TABLE failures (
  id             INTEGER PRIMARY KEY,
  trial_id       INTEGER NOT NULL UNIQUE REFERENCES trials(id) ON DELETE CASCADE,
  signature_id   INTEGER NOT NULL REFERENCES signatures(id),
  message        TEXT NOT NULL,         -- full message
  log_excerpt    TEXT NOT NULL DEFAULT '',
  artifact_path  TEXT NOT NULL DEFAULT '',
  recorded_at_ms INTEGER NOT NULL
);
CREATE INDEX failures_by_signature ON failures(signature_id, trial_id);
CREATE INDEX signatures_by_last_seen ON signatures(last_seen_ms);
ALTER TABLE runs ADD COLUMN cell TEXT;
ALTER TABLE runs ADD COLUMN shard TEXT;
ALTER TABLE runs ADD COLUMN campaign_hash TEXT;
ALTER TABLE runs ADD COLUMN run_uid TEXT;  -- set for every run by begin_run / the backfill
CREATE INDEX runs_by_cell ON runs(scenario, placement, params, host_id);
CREATE INDEX runs_by_start ON runs(started_at_ms);
CREATE INDEX runs_by_campaign ON runs(campaign_hash, shard);
)sql", backfill_v2},
    {3, R"sql(
ALTER TABLE runs ADD COLUMN invocation TEXT;     -- one id per `flakelab run`: groups its cells
ALTER TABLE runs ADD COLUMN artifacts_dir TEXT;  -- where --keep-artifacts kept trial directories
CREATE INDEX runs_by_invocation ON runs(invocation);
)sql", nullptr},
    {4, R"sql(
-- What the cell was expected to do: 'pass' (must not fail) or 'flaky'; NULL for runs
-- recorded before v4, whose expectation was not kept.
ALTER TABLE runs ADD COLUMN expect TEXT CHECK (expect IN ('pass', 'flaky'));
-- Which sharded execution a shard belongs to (e.g. a CI runner label); shard sets are
-- told apart by (campaign_hash, seed, shard_group, shard count).
ALTER TABLE runs ADD COLUMN shard_group TEXT;
-- Trials the run was asked for (a shard's share of its cell); NULL before v4.
ALTER TABLE runs ADD COLUMN planned_trials INTEGER;
)sql", nullptr},
    {5, R"sql(
-- Cells a `flakelab run` planned but could not run on its machine (e.g. a placement that
-- needs SMT siblings on a machine without SMT), with the reason: reports show them skipped.
CREATE TABLE skipped_cells (
  id             INTEGER PRIMARY KEY,
  host_id        INTEGER NOT NULL REFERENCES hosts(id),
  invocation     TEXT NOT NULL,
  scenario       TEXT NOT NULL,
  params         TEXT NOT NULL,
  placement      TEXT NOT NULL,
  expect         TEXT CHECK (expect IN ('pass', 'flaky')),
  reason         TEXT NOT NULL,
  recorded_at_ms INTEGER NOT NULL,
  UNIQUE (invocation, scenario, params, placement)
);
)sql", nullptr},
    {6, R"sql(
-- Which kind of machine a host is: its hypervisor ('' on bare metal) and how many logical
-- CPUs the OS sees; both part of the host's identity. SQLite cannot change a UNIQUE
-- constraint in place, so hosts is rebuilt with its ids (runs and skipped_cells refer to
-- them); the FK checks are deferred to commit, when every referenced id exists again.
PRAGMA defer_foreign_keys = ON;
CREATE TEMP TABLE hosts_v5 AS SELECT * FROM hosts;
DROP TABLE hosts;
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
  hypervisor   TEXT NOT NULL DEFAULT '',  -- e.g. 'KVM', 'bhyve'; '' on bare metal or unknown (pre-v6)
  vcpus        INTEGER NOT NULL DEFAULT 0,  -- online logical CPUs; 0 when recorded before v6
  UNIQUE (hostname, cpu_vendor, cpu_brand, cpu_family, cpu_model, cpu_stepping,
          cpu_codename, kernel, microcode, hypervisor, vcpus)
);
INSERT INTO hosts (id, hostname, cpu_vendor, cpu_brand, cpu_family, cpu_model, cpu_stepping,
                   cpu_codename, kernel, microcode)
  SELECT id, hostname, cpu_vendor, cpu_brand, cpu_family, cpu_model, cpu_stepping,
         cpu_codename, kernel, microcode FROM temp.hosts_v5;
DROP TABLE temp.hosts_v5;
)sql", nullptr},
    {7, R"sql(
-- When every trial finished (unix epoch ms), passes included: before v7 only a failing
-- trial's time was kept (failures.recorded_at_ms), so that is the backfill; older passes stay NULL.
ALTER TABLE trials ADD COLUMN finished_at_ms INTEGER;
UPDATE trials SET finished_at_ms = (SELECT f.recorded_at_ms FROM failures f WHERE f.trial_id = trials.id);
)sql", nullptr},
};
static_assert(std::size(kMigrations) == Store::kSchemaVersion &&
                  kMigrations[std::size(kMigrations) - 1].version == Store::kSchemaVersion,
              "kMigrations must end at Store::kSchemaVersion");

using namespace detail;  // NOLINT: the helpers moved to store_internal.h

constexpr const char* kUpsertSignatureSql =
    "INSERT INTO signatures (hash, normalized, first_seen_ms, last_seen_ms, count) "
    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (hash) DO UPDATE SET "
    "count = count + excluded.count, "
    "first_seen_ms = min(first_seen_ms, excluded.first_seen_ms), "
    "last_seen_ms = max(last_seen_ms, excluded.last_seen_ms) RETURNING id";
constexpr const char* kInsertFailureSql =
    "INSERT INTO failures (trial_id, signature_id, message, log_excerpt, artifact_path, "
    "recorded_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

// Text of an RFC 9562 UUID with the given version nibble and the RFC variant bits.
std::string format_uuid(uint64_t hi, uint64_t lo, unsigned version) {
  hi = (hi & ~0xF000ULL) | (static_cast<uint64_t>(version & 0xF) << 12);
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xFFFF, hi & 0xFFFF,
                     lo >> 48, lo & 0xFFFFFFFFFFFFULL);
}

// A random (version 4) UUID for a new run.
std::string random_uuid() {
  std::random_device device;
  auto word = [&] { return (static_cast<uint64_t>(device()) << 32) | device(); };
  const uint64_t hi = word();
  const uint64_t lo = word();
  return format_uuid(hi, lo, 4);
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// v1 -> v2: every run gets a run_uid, every failing trial with a message a failures row and
// a counted signature. A v1 run's uid is derived from its contents (a version 8 UUID), so
// migrating two copies of one v1 file gives the same uids and merge still deduplicates them.
void backfill_v2(sqlite3* db, const std::string& path, const Normalizer& normalizer) {
  {
    Statement select(db, path,
                     "SELECT r.id, r.scenario, r.params, r.placement, r.seed, r.command_line, "
                     "r.version, r.started_at_ms, h.hostname, h.cpu_brand, h.kernel, h.microcode "
                     "FROM runs r JOIN hosts h ON h.id = r.host_id WHERE r.run_uid IS NULL",
                     "migrate: read v1 runs");
    Statement update(db, path, "UPDATE runs SET run_uid = ?2 WHERE id = ?1", "migrate: set run_uid");
    std::vector<std::pair<int64_t, std::string>> uids;
    while (select.next()) {
      std::string key;
      for (int col = 1; col <= 11; ++col) {
        key += select.column_text(col);
        key.push_back('\x1f');
      }
      key += std::to_string(select.column_int(0));
      uids.emplace_back(select.column_int(0),
                        format_uuid(fnv1a64("run_uid/hi\x1f" + key), fnv1a64("run_uid/lo\x1f" + key), 8));
    }
    select.reset();
    for (const auto& [id, uid] : uids) {
      Reset reset(update);
      update.bind_int(1, id);
      update.bind_text(2, uid);
      update.run();
    }
  }
  exec(db, path, "CREATE UNIQUE INDEX runs_by_uid ON runs(run_uid)", "migrate: index run_uid");

  Statement select(db, path,
                   "SELECT t.id, t.message, r.started_at_ms FROM trials t JOIN runs r ON r.id = t.run_id "
                   "WHERE t.outcome <> 'pass' AND t.message <> '' ORDER BY t.id",
                   "migrate: read failing trials");
  Statement upsert(db, path, kUpsertSignatureSql, "migrate: upsert signature");
  Statement insert(db, path, kInsertFailureSql, "migrate: insert failure");
  while (select.next()) {
    const int64_t trial_id = select.column_int(0);
    const std::string message = select.column_text(1);
    const int64_t when = select.column_int(2);  // v1 kept no per-trial time: use the run's start
    const Signature sig = normalizer.signature(message);
    const std::string hex = sig.hex();
    int64_t signature_id = 0;
    {
      Reset reset(upsert);
      upsert.bind_text(1, hex);
      upsert.bind_text(2, sig.normalized);
      upsert.bind_int(3, when);
      upsert.bind_int(4, when);
      upsert.bind_int(5, 1);
      if (!upsert.next()) throw make_error(path, upsert.op(), "no id returned", SQLITE_INTERNAL);
      signature_id = upsert.column_int(0);
    }
    Reset reset(insert);
    insert.bind_int(1, trial_id);
    insert.bind_int(2, signature_id);
    insert.bind_text(3, message);
    insert.bind_text(4, "");
    insert.bind_text(5, "");
    insert.bind_int(6, when);
    insert.run();
  }
}

void check_version_supported(const std::string& path, int64_t version) {
  if (version > Store::kSchemaVersion) {
    throw StoreError(fmt::format(
        "results store '{}': schema version {} is newer than this flakelab build supports "
        "(version {}); open it with a newer flakelab",
        path, version, Store::kSchemaVersion));
  }
  if (version < 0) {
    throw StoreError(fmt::format(
        "results store '{}': schema version {} is not a flakelab schema version", path, version));
  }
}

// Brings the schema to kSchemaVersion. `seen_version` was read without a lock.
void migrate(sqlite3* db, const std::string& path, int64_t seen_version, const Normalizer& normalizer) {
  if (seen_version == Store::kSchemaVersion) return;  // the usual case takes no write lock
  Transaction tx(db, path, "migrate schema", Transaction::Kind::kWrite);
  // Re-read under the write lock: another process may have created the schema meanwhile.
  const int64_t version = query_int(db, path, "PRAGMA user_version", "read schema version");
  check_version_supported(path, version);
  if (version == Store::kSchemaVersion) return;
  if (version == 0) {
    const int64_t tables = query_int(
        db, path, "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
        "inspect schema");
    if (tables != 0) {
      throw StoreError(fmt::format(
          "results store '{}': not a flakelab results database (it has {} tables but no "
          "schema version)",
          path, tables));
    }
  }
  for (const Migration& migration : kMigrations) {
    if (migration.version > version) {
      exec(db, path, migration.sql, fmt::format("migrate schema to version {}", migration.version));
      if (migration.backfill != nullptr) migration.backfill(db, path, normalizer);
    }
  }
  // PRAGMA takes no bound parameters; the value is our own constant.
  exec(db, path, fmt::format("PRAGMA user_version = {}", Store::kSchemaVersion).c_str(),
       "set schema version");
  tx.commit();
}

// SQLite 3.40 takes a 1-byte file for an empty database and writes a schema over it. Check the
// header magic ourselves so that any non-SQLite file is refused, never clobbered.
void check_sqlite_header(const std::string& path) {
  // O_NONBLOCK: a FIFO in place of the database must fail, not hang the open (or SQLite's reads).
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return;  // missing (SQLite creates it) or unreadable (SQLite reports why)
  struct stat st{};
  const bool stated = ::fstat(fd, &st) == 0;
  const bool regular = stated && S_ISREG(st.st_mode);
  char header[16] = {};
  ssize_t got = 0;
  if (regular) {
    do {
      got = ::pread(fd, header, sizeof header, 0);
    } while (got < 0 && errno == EINTR);
  }
  ::close(fd);
  if (!stated || S_ISDIR(st.st_mode)) return;  // SQLite reports it ("unable to open database file")
  if (!regular) throw make_error(path, "open", "not a regular file", SQLITE_CANTOPEN);
  if (got <= 0) return;  // an empty file is a new database; a read error SQLite reports
  static constexpr char kMagic[16] = "SQLite format 3";  // with its NUL: all 16 header bytes
  if (static_cast<size_t>(got) != sizeof header || std::memcmp(header, kMagic, sizeof header) != 0) {
    throw make_error(path, "open", "file is not a database (no SQLite header)", SQLITE_NOTADB);
  }
}

// Switching a rollback-journal file to WAL needs an exclusive lock. When two processes open a
// new file at once, both hold a shared lock while asking for it, and SQLite fails one of them
// at once with SQLITE_BUSY rather than calling the busy handler (waiting would deadlock).
// Retry until the other one is done: the file is then in WAL mode and the switch a no-op.
std::string enable_wal(sqlite3* db, const std::string& path) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(Store::kBusyTimeoutMs);
  auto pause = std::chrono::milliseconds(1);
  Statement journal(db, path, "PRAGMA journal_mode = WAL", "enable WAL");
  for (;;) {
    Reset reset(journal);
    const int rc = journal.step();
    if (rc == SQLITE_ROW) return journal.column_text(0);
    if ((rc & 0xff) != SQLITE_BUSY || Clock::now() >= deadline) throw_sqlite(db, path, "enable WAL");
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

DbPtr open_database(const std::string& path, const Normalizer& normalizer) {
  check_sqlite_header(path);
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  DbPtr db(raw);  // open_v2 allocates a handle even when it fails; it still has to be closed
  if (rc != SQLITE_OK) {
    if (!db) throw make_error(path, "open", "out of memory", rc);
    std::string detail = sqlite3_errmsg(db.get());
    // SQLite only says "unable to open database file"; name the usual cause.
    const auto parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
      detail += fmt::format(" (directory '{}' does not exist)", parent.string());
    }
    throw make_error(path, "open", detail, sqlite3_extended_errcode(db.get()));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  // Several harness processes may write one file; wait for each other instead of failing.
  sqlite3_busy_timeout(db.get(), Store::kBusyTimeoutMs);
  exec(db.get(), path, "PRAGMA foreign_keys = ON", "enable foreign keys");

  // The first statement that reads the file: a non-SQLite file fails here, before anything
  // (even the journal mode) is written. A newer schema is refused untouched too.
  const int64_t version = query_int(db.get(), path, "PRAGMA user_version", "read schema version");
  check_version_supported(path, version);

  {
    const std::string mode = enable_wal(db.get(), path);
    // "memory" is what an in-memory database (":memory:") reports; nothing else shares it.
    if (mode != "wal" && mode != "memory") {
      throw make_error(path, "enable WAL",
                       fmt::format("journal mode stayed '{}' (does the filesystem support "
                                   "shared memory?)",
                                   mode),
                       SQLITE_ERROR);
    }
  }
  // In WAL mode NORMAL survives process crashes and only risks the last commits on power loss;
  // FULL would fsync every batch.
  exec(db.get(), path, "PRAGMA synchronous = NORMAL", "set synchronous mode");
  migrate(db.get(), path, version, normalizer);
  return db;
}

uint64_t parse_seed(const std::string& path, int64_t run_id, const std::string& text) {
  uint64_t seed = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seed);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw make_error(path, "read run", fmt::format("run {} has a malformed seed '{}'", run_id, text),
                     SQLITE_MISMATCH);
  }
  return seed;
}

constexpr const char* kHostColumns =
    "hostname, cpu_vendor, cpu_brand, cpu_family, cpu_model, cpu_stepping, cpu_codename, "
    "kernel, microcode, hypervisor, vcpus";

void bind_host(Statement& stmt, const HostInfo& host) {
  stmt.bind_text(1, host.hostname);
  stmt.bind_text(2, host.cpu_vendor);
  stmt.bind_text(3, host.cpu_brand);
  stmt.bind_int(4, host.cpu_family);
  stmt.bind_int(5, host.cpu_model);
  stmt.bind_int(6, host.cpu_stepping);
  stmt.bind_text(7, host.cpu_codename);
  stmt.bind_text(8, host.kernel);
  stmt.bind_text(9, host.microcode);
  stmt.bind_text(10, host.hypervisor);
  stmt.bind_int(11, host.vcpus);
}

struct PendingTrial {
  int64_t run_id = 0;
  TrialRecord trial;
  // For a trial that gets a failures row (signature computed at add_trial, outside the lock).
  bool failure = false;
  uint64_t hash = 0;
  std::string normalized;
};

// One batch's signatures, each upserted once per batch.
struct BatchSignature {
  const PendingTrial* first;  // holds the normalized text
  int64_t count = 0;
  int64_t first_seen_ms = 0;
  int64_t last_seen_ms = 0;
  int64_t id = 0;
};

}  // namespace

struct Store::Impl {
  Impl(const std::string& store_path, int batch, Normalizer norm)
      : path(store_path),
        batch_size(batch),
        normalizer(std::move(norm)),
        db(open_database(path, normalizer)),
        select_host(db.get(), path,
                    "SELECT id FROM hosts WHERE hostname = ?1 AND cpu_vendor = ?2 AND "
                    "cpu_brand = ?3 AND cpu_family = ?4 AND cpu_model = ?5 AND "
                    "cpu_stepping = ?6 AND cpu_codename = ?7 AND kernel = ?8 AND microcode = ?9 AND "
                    "hypervisor = ?10 AND vcpus = ?11",
                    "find host"),
        insert_host(db.get(), path,
                    fmt::format("INSERT INTO hosts ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
                                "ON CONFLICT DO NOTHING",
                                kHostColumns)
                        .c_str(),
                    "insert host"),
        select_host_by_id(db.get(), path,
                          fmt::format("SELECT {} FROM hosts WHERE id = ?1", kHostColumns).c_str(),
                          "read host"),
        insert_run(db.get(), path,
                   "INSERT INTO runs (host_id, scenario, params, placement, seed, command_line, "
                   "version, started_at_ms, cell, shard, campaign_hash, run_uid, invocation, "
                   "artifacts_dir, expect, shard_group, planned_trials) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                   "insert run"),
        update_run_end(db.get(), path, "UPDATE runs SET ended_at_ms = ?2 WHERE id = ?1", "end run"),
        run_exists(db.get(), path, "SELECT 1 FROM runs WHERE id = ?1", "look up run"),
        select_run(db.get(), path,
                   "SELECT host_id, scenario, params, placement, seed, command_line, version, "
                   "started_at_ms, ended_at_ms, cell, shard, campaign_hash, run_uid, invocation, "
                   "artifacts_dir, expect, shard_group, planned_trials FROM runs WHERE id = ?1",
                   "read run"),
        select_run_ids(db.get(), path, "SELECT id FROM runs ORDER BY id", "list runs"),
        insert_trial(db.get(), path,
                     "INSERT INTO trials (run_id, idx, outcome, duration_ms, cpus_used, message, finished_at_ms) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                     "write trial batch"),
        select_trials(db.get(), path,
                      "SELECT t.idx, t.outcome, t.duration_ms, t.cpus_used, t.message, "
                      "f.log_excerpt, f.artifact_path, t.finished_at_ms "
                      "FROM trials t LEFT JOIN failures f ON f.trial_id = t.id "
                      "WHERE t.run_id = ?1 ORDER BY t.idx",
                      "read trials"),
        count_outcomes(db.get(), path,
                       "SELECT outcome, count(*) FROM trials WHERE run_id = ?1 GROUP BY outcome",
                       "count outcomes"),
        count_messages(db.get(), path,
                       "SELECT message, count(*) AS n FROM trials "
                       "WHERE run_id = ?1 AND outcome <> 'pass' "
                       "GROUP BY message ORDER BY n DESC, message ASC",
                       "count messages"),
        user_version(db.get(), path, "PRAGMA user_version", "read schema version"),
        count_signatures(db.get(), path,
                         "SELECT s.hash, s.normalized, count(*) AS n FROM trials t "
                         "JOIN failures f ON f.trial_id = t.id JOIN signatures s ON s.id = f.signature_id "
                         "WHERE t.run_id = ?1 GROUP BY s.id ORDER BY n DESC, s.hash ASC",
                         "count signatures"),
        upsert_signature(db.get(), path, kUpsertSignatureSql, "write trial batch: upsert signature"),
        insert_failure(db.get(), path, kInsertFailureSql, "write trial batch: insert failure") {}

  // Statements keep a pointer to `path`.
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Checks once per run id, so a bad id fails at add_trial() rather than poisoning a batch.
  void require_run(int64_t run_id, std::string_view op) {
    if (known_runs.contains(run_id)) return;
    Reset reset(run_exists);
    run_exists.bind_int(1, run_id);
    if (!run_exists.next()) {
      throw make_error(path, op, fmt::format("run {} does not exist", run_id), SQLITE_NOTFOUND);
    }
    known_runs.insert(run_id);
  }

  // Inside flush()'s transaction: one upsert per distinct signature in the batch, then the
  // failures rows.
  void write_failures(const std::vector<std::pair<const PendingTrial*, int64_t>>& failing) {
      Impl& im = *this;
    if (failing.empty()) return;
    std::unordered_map<uint64_t, BatchSignature> batch;
    for (const auto& [pending, trial_id] : failing) {
      const int64_t when = pending->trial.finished_at_ms;
      auto [it, inserted] = batch.try_emplace(pending->hash, BatchSignature{pending, 0, when, when, 0});
      BatchSignature& sig = it->second;
      ++sig.count;
      sig.first_seen_ms = std::min(sig.first_seen_ms, when);
      sig.last_seen_ms = std::max(sig.last_seen_ms, when);
    }
    for (auto& [hash, sig] : batch) {
      Statement& upsert = im.upsert_signature;
      Reset reset(upsert);
      const std::string hex = hash_hex(hash);
      upsert.bind_text(1, hex);
      upsert.bind_text(2, sig.first->normalized);
      upsert.bind_int(3, sig.first_seen_ms);
      upsert.bind_int(4, sig.last_seen_ms);
      upsert.bind_int(5, sig.count);
      if (!upsert.next()) throw make_error(im.path, upsert.op(), "no id returned", SQLITE_INTERNAL);
      sig.id = upsert.column_int(0);
    }
    Statement& insert = im.insert_failure;
    for (const auto& [pending, trial_id] : failing) {
      Reset reset(insert);
      insert.bind_int(1, trial_id);
      insert.bind_int(2, batch.find(pending->hash)->second.id);
      insert.bind_text(3, pending->trial.message);
      insert.bind_text(4, pending->trial.log_excerpt);
      insert.bind_text(5, pending->trial.artifact_path);
      insert.bind_int(6, pending->trial.finished_at_ms);
      insert.run();
    }
  }

  std::string path;
  int batch_size;
  std::chrono::milliseconds max_pending_age = Store::kDefaultMaxPendingAge;
  Store::Clock::time_point oldest_pending{};  // when the first of `pending` was added
  Normalizer normalizer;
  DbPtr db;  // declared before the statements, so it is closed after they are finalized
  Statement select_host;
  Statement insert_host;
  Statement select_host_by_id;
  Statement insert_run;
  Statement update_run_end;
  Statement run_exists;
  Statement select_run;
  Statement select_run_ids;
  Statement insert_trial;
  Statement select_trials;
  Statement count_outcomes;
  Statement count_messages;
  Statement user_version;
  Statement count_signatures;
  Statement upsert_signature;
  Statement insert_failure;
  std::vector<PendingTrial> pending;
  std::unordered_set<int64_t> known_runs;
};

Store::Store(const std::string& path, int batch_size) : Store(path, batch_size, Normalizer()) {}

Store::Store(const std::string& path, int batch_size, Normalizer normalizer) {
  if (batch_size < 1) {
    throw StoreError(
        fmt::format("results store '{}': batch size must be at least 1, got {}", path, batch_size));
  }
  impl_ = std::make_unique<Impl>(path, batch_size, std::move(normalizer));
  impl_->pending.reserve(static_cast<size_t>(std::min(batch_size, 65536)));
}

Store::~Store() {
  // A destructor cannot throw; say loudly what was lost instead.
  try {
    flush();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flakelab: %s; %zu trials not written\n", e.what(), impl_->pending.size());
  }
}

int64_t Store::upsert_host(const HostInfo& host) {
  Impl& im = *impl_;
  auto find = [&]() -> std::optional<int64_t> {
    Reset reset(im.select_host);
    bind_host(im.select_host, host);
    if (!im.select_host.next()) return std::nullopt;
    return im.select_host.column_int(0);
  };
  // Look first so that the common case (host already known) takes no write lock.
  if (auto id = find()) return *id;
  {
    Reset reset(im.insert_host);
    bind_host(im.insert_host, host);
    im.insert_host.run();  // DO NOTHING if another process inserted it since
  }
  if (auto id = find()) return *id;
  throw make_error(im.path, "insert host", "host row missing after insert", SQLITE_INTERNAL);
}

int64_t Store::begin_run(int64_t host_id, const RunInfo& run) {
  Impl& im = *impl_;
  const std::string seed = std::to_string(run.seed);
  Reset reset(im.insert_run);
  im.insert_run.bind_int(1, host_id);
  im.insert_run.bind_text(2, run.scenario);
  im.insert_run.bind_text(3, run.params);
  im.insert_run.bind_text(4, run.placement);
  im.insert_run.bind_text(5, seed);
  im.insert_run.bind_text(6, run.command_line);
  im.insert_run.bind_text(7, run.version);
  im.insert_run.bind_int(8, run.started_at_ms);
  auto bind_optional = [&](int index, const std::optional<std::string>& value) {
    if (value) {
      im.insert_run.bind_text(index, *value);
    }  // else left NULL (bindings are cleared on reset)
  };
  bind_optional(9, run.cell);
  bind_optional(10, run.shard);
  bind_optional(11, run.campaign_hash);
  const std::string uid = random_uuid();
  im.insert_run.bind_text(12, uid);
  bind_optional(13, run.invocation);
  bind_optional(14, run.artifacts_dir);
  if (run.expect && *run.expect != "pass" && *run.expect != "flaky") {
    throw make_error(im.path, "insert run", fmt::format("expect '{}': must be pass or flaky", *run.expect),
                     SQLITE_MISUSE);
  }
  bind_optional(15, run.expect);
  bind_optional(16, run.shard_group);
  if (run.planned_trials) im.insert_run.bind_int(17, *run.planned_trials);
  im.insert_run.run();
  const int64_t id = sqlite3_last_insert_rowid(im.db.get());
  im.known_runs.insert(id);
  return id;
}

void Store::add_skipped_cell(int64_t host_id, const SkippedCell& cell) {
  Impl& im = *impl_;
  if (cell.expect && *cell.expect != "pass" && *cell.expect != "flaky") {
    throw make_error(im.path, "insert skipped cell", fmt::format("expect '{}': must be pass or flaky", *cell.expect),
                     SQLITE_MISUSE);
  }
  Statement insert(im.db.get(), im.path,
                   "INSERT INTO skipped_cells (host_id, invocation, scenario, params, placement, expect, reason, "
                   "recorded_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
                   "insert skipped cell");
  insert.bind_int(1, host_id);
  insert.bind_text(2, cell.invocation);
  insert.bind_text(3, cell.scenario);
  insert.bind_text(4, cell.params);
  insert.bind_text(5, cell.placement);
  if (cell.expect) insert.bind_text(6, *cell.expect);
  insert.bind_text(7, cell.reason);
  insert.bind_int(8, cell.recorded_at_ms);
  insert.run();
}

void Store::end_run(int64_t run_id, int64_t ended_at_ms) {
  Impl& im = *impl_;
  flush();  // a run that has ended has all its trials on disk
  Reset reset(im.update_run_end);
  im.update_run_end.bind_int(1, run_id);
  im.update_run_end.bind_int(2, ended_at_ms);
  im.update_run_end.run();
  if (sqlite3_changes(im.db.get()) == 0) {
    throw make_error(im.path, "end run", fmt::format("run {} does not exist", run_id), SQLITE_NOTFOUND);
  }
}

void Store::add_trial(int64_t run_id, const TrialRecord& trial) {
  Impl& im = *impl_;
  if (!outcome_from_string(to_string(trial.outcome))) {
    throw make_error(im.path, "add trial",
                     fmt::format("invalid outcome value {}", static_cast<int>(trial.outcome)),
                     SQLITE_MISUSE);
  }
  im.require_run(run_id, "add trial");
  PendingTrial added;
  added.run_id = run_id;
  added.trial = trial;
  if (added.trial.finished_at_ms == 0) added.trial.finished_at_ms = now_ms();
  if (trial.outcome != Outcome::kPass && !trial.message.empty()) {
    // Normalized here, outside the write lock; a throwing project mask leaves nothing pending.
    added.failure = true;
    added.normalized = im.normalizer.normalize(trial.message);
    added.hash = fnv1a64(added.normalized);
  }
  if (im.pending.empty()) im.oldest_pending = Clock::now();
  im.pending.push_back(std::move(added));
  if (im.pending.size() >= static_cast<size_t>(im.batch_size)) {
    flush();
  } else {
    flush_if_due();
  }
}

std::optional<Store::Clock::time_point> Store::flush_due() const {
  if (impl_->pending.empty()) return std::nullopt;
  return impl_->oldest_pending + impl_->max_pending_age;
}

void Store::flush_if_due() {
  const auto due = flush_due();
  if (due && Clock::now() >= *due) flush();
}

void Store::set_max_pending_age(std::chrono::milliseconds age) {
  if (age.count() < 0) {
    throw StoreError(fmt::format("results store '{}': max pending age must not be negative, got {} ms",
                                 impl_->path, age.count()));
  }
  impl_->max_pending_age = age;
}

void Store::flush() {
  Impl& im = *impl_;
  if (im.pending.empty()) return;
  Transaction tx(im.db.get(), im.path, "write trial batch", Transaction::Kind::kWrite);
  Statement& insert = im.insert_trial;
  std::vector<std::pair<const PendingTrial*, int64_t>> failing;  // with their trial ids
  for (size_t i = 0; i < im.pending.size(); ++i) {
    const int64_t run_id = im.pending[i].run_id;
    const TrialRecord& trial = im.pending[i].trial;
    Reset reset(insert);
    insert.bind_int(1, run_id);
    insert.bind_int(2, trial.index);
    insert.bind_text(3, to_string(trial.outcome));
    insert.bind_double(4, trial.duration_ms);
    insert.bind_text(5, trial.cpus_used);
    insert.bind_text(6, trial.message);
    insert.bind_int(7, trial.finished_at_ms);
    const int rc = insert.step();
    if (rc == SQLITE_DONE) {
      if (im.pending[i].failure) failing.emplace_back(&im.pending[i], sqlite3_last_insert_rowid(im.db.get()));
      continue;
    }

    // Read the error now: the rollback (tx going out of scope) replaces it.
    const std::string detail = sqlite3_errmsg(im.db.get());
    const int code = sqlite3_extended_errcode(im.db.get());
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
      // Retrying this row would fail the same way; drop it and keep the others pending.
      std::string what = fmt::format("trial {} of run {} dropped: {}; {} other trials still pending",
                                     trial.index, run_id, detail, im.pending.size() - 1);
      im.pending.erase(im.pending.begin() + static_cast<std::ptrdiff_t>(i));
      throw make_error(im.path, "write trial batch", what, code);
    }
    throw make_error(im.path, "write trial batch",
                     fmt::format("{}; {} trials still pending", detail, im.pending.size()), code);
  }
  im.write_failures(failing);
  tx.commit();
  im.pending.clear();
}

int64_t Store::pending_trials() const { return static_cast<int64_t>(impl_->pending.size()); }

std::vector<int64_t> Store::run_ids() const {
  Statement& stmt = impl_->select_run_ids;
  Reset reset(stmt);
  std::vector<int64_t> ids;
  while (stmt.next()) ids.push_back(stmt.column_int(0));
  return ids;
}

RunRecord Store::run(int64_t run_id) const {
  Impl& im = *impl_;
  Statement& stmt = im.select_run;
  Reset reset(stmt);
  stmt.bind_int(1, run_id);
  if (!stmt.next()) {
    throw make_error(im.path, "read run", fmt::format("run {} does not exist", run_id), SQLITE_NOTFOUND);
  }
  RunRecord record;
  record.id = run_id;
  record.host_id = stmt.column_int(0);
  record.info.scenario = stmt.column_text(1);
  record.info.params = stmt.column_text(2);
  record.info.placement = stmt.column_text(3);
  record.info.seed = parse_seed(im.path, run_id, stmt.column_text(4));
  record.info.command_line = stmt.column_text(5);
  record.info.version = stmt.column_text(6);
  record.info.started_at_ms = stmt.column_int(7);
  if (!stmt.column_is_null(8)) record.ended_at_ms = stmt.column_int(8);
  if (!stmt.column_is_null(9)) record.info.cell = stmt.column_text(9);
  if (!stmt.column_is_null(10)) record.info.shard = stmt.column_text(10);
  if (!stmt.column_is_null(11)) record.info.campaign_hash = stmt.column_text(11);
  record.run_uid = stmt.column_text(12);
  if (!stmt.column_is_null(13)) record.info.invocation = stmt.column_text(13);
  if (!stmt.column_is_null(14)) record.info.artifacts_dir = stmt.column_text(14);
  if (!stmt.column_is_null(15)) record.info.expect = stmt.column_text(15);
  if (!stmt.column_is_null(16)) record.info.shard_group = stmt.column_text(16);
  if (!stmt.column_is_null(17)) record.info.planned_trials = stmt.column_int(17);
  return record;
}

HostInfo Store::host(int64_t host_id) const {
  Impl& im = *impl_;
  Statement& stmt = im.select_host_by_id;
  Reset reset(stmt);
  stmt.bind_int(1, host_id);
  if (!stmt.next()) {
    throw make_error(im.path, "read host", fmt::format("host {} does not exist", host_id),
                     SQLITE_NOTFOUND);
  }
  HostInfo host;
  host.hostname = stmt.column_text(0);
  host.cpu_vendor = stmt.column_text(1);
  host.cpu_brand = stmt.column_text(2);
  host.cpu_family = static_cast<int>(stmt.column_int(3));
  host.cpu_model = static_cast<int>(stmt.column_int(4));
  host.cpu_stepping = static_cast<int>(stmt.column_int(5));
  host.cpu_codename = stmt.column_text(6);
  host.kernel = stmt.column_text(7);
  host.microcode = stmt.column_text(8);
  host.hypervisor = stmt.column_text(9);
  host.vcpus = static_cast<int>(stmt.column_int(10));
  return host;
}

std::vector<TrialRecord> Store::trials(int64_t run_id) {
  Impl& im = *impl_;
  flush();
  Statement& stmt = im.select_trials;
  Reset reset(stmt);
  stmt.bind_int(1, run_id);
  std::vector<TrialRecord> out;
  while (stmt.next()) {
    TrialRecord trial;
    trial.index = stmt.column_int(0);
    const std::string outcome = stmt.column_text(1);
    const auto parsed = outcome_from_string(outcome);
    if (!parsed) {  // the CHECK constraint makes this a hand-edited or corrupt file
      throw make_error(im.path, "read trials",
                       fmt::format("trial {} of run {} has unknown outcome '{}'", trial.index,
                                   run_id, outcome),
                       SQLITE_MISMATCH);
    }
    trial.outcome = *parsed;
    trial.duration_ms = stmt.column_double(2);
    trial.cpus_used = stmt.column_text(3);
    trial.message = stmt.column_text(4);
    trial.log_excerpt = stmt.column_text(5);
    trial.artifact_path = stmt.column_text(6);
    trial.finished_at_ms = stmt.column_is_null(7) ? 0 : stmt.column_int(7);
    out.push_back(std::move(trial));
  }
  return out;
}

RunSummary Store::summarize(int64_t run_id) {
  Impl& im = *impl_;
  flush();
  // One read transaction: counts and messages come from the same snapshot even while other
  // processes keep writing.
  Transaction tx(im.db.get(), im.path, "summarize run", Transaction::Kind::kRead);
  const RunRecord record = run(run_id);
  RunSummary summary;
  summary.run_id = run_id;
  summary.scenario = record.info.scenario;
  summary.params = record.info.params;
  summary.placement = record.info.placement;
  {
    Statement& stmt = im.count_outcomes;
    Reset reset(stmt);
    stmt.bind_int(1, run_id);
    while (stmt.next()) {
      const auto outcome = outcome_from_string(stmt.column_text(0));
      const int64_t count = stmt.column_int(1);
      summary.trials += count;
      if (!outcome) continue;  // impossible under the CHECK constraint; counted in trials only
      switch (*outcome) {
        case Outcome::kPass:
          summary.passes = count;
          break;
        case Outcome::kFail:
          summary.failures = count;
          break;
        case Outcome::kTimeout:
          summary.timeouts = count;
          break;
        case Outcome::kError:
          summary.errors = count;
          break;
      }
    }
  }
  {
    Statement& stmt = im.count_messages;
    Reset reset(stmt);
    stmt.bind_int(1, run_id);
    while (stmt.next()) summary.messages.push_back({stmt.column_text(0), stmt.column_int(1)});
  }
  {
    Statement& stmt = im.count_signatures;
    Reset reset(stmt);
    stmt.bind_int(1, run_id);
    while (stmt.next()) summary.signatures.push_back({stmt.column_text(0), stmt.column_text(1), stmt.column_int(2)});
  }
  tx.commit();

  const int64_t failing = summary.failures + summary.timeouts;
  summary.rate = summary.trials > 0 ? static_cast<double>(failing) / static_cast<double>(summary.trials) : 0.0;
  const Interval interval = wilson_interval(failing, summary.trials);
  summary.wilson_low = interval.low;
  summary.wilson_high = interval.high;
  return summary;
}

int Store::schema_version() const {
  Statement& stmt = impl_->user_version;
  Reset reset(stmt);
  if (!stmt.next()) throw make_error(impl_->path, "read schema version", "no result", SQLITE_ERROR);
  return static_cast<int>(stmt.column_int(0));
}

const std::string& Store::path() const { return impl_->path; }
const Normalizer& Store::normalizer() const { return impl_->normalizer; }

sqlite3* detail::StoreAccess::db(const Store& store) { return store.impl_->db.get(); }
const std::string& detail::StoreAccess::path(const Store& store) { return store.impl_->path; }

}  // namespace flakelab::results
