// merge(): ATTACH each input to the output's connection and copy with remapped ids in SQL.
#include "flakelab/results/merge.h"

#include <fmt/format.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <system_error>

#include "flakelab/results/store.h"
#include "store_internal.h"

namespace flakelab::results {

using namespace detail;  // NOLINT

namespace {

constexpr const char* kHostCols =
    "hostname, cpu_vendor, cpu_brand, cpu_family, cpu_model, cpu_stepping, cpu_codename, kernel, microcode, "
    "hypervisor, vcpus";

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa{};
  struct stat sb{};
  if (stat(a.c_str(), &sa) != 0 || stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// The input's schema version, read through a read-only connection (nothing is
// written), once the input passed the integrity check.
int64_t input_version(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) {
    throw StoreError(fmt::format("merge: input '{}' does not exist or is not a file", path));
  }
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
  if (rc != SQLITE_OK) throw_sqlite(raw, path, "merge: open input");
  sqlite3_busy_timeout(raw, Store::kBusyTimeoutMs);
  check_database_integrity(raw, path);
  return query_int(raw, path, "PRAGMA user_version", "merge: read input schema version");
}

// A scratch directory removed with its contents.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "flakelab-merge-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      throw StoreError(fmt::format("merge: mkdtemp {}: {}", pattern, std::strerror(errno)));
    }
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Copies `from` to `to` with SQLite's backup API (consistent even while others write).
void copy_database(const std::string& from, const std::string& to) {
  sqlite3* src_raw = nullptr;
  sqlite3* dst_raw = nullptr;
  const int rc1 = sqlite3_open_v2(from.c_str(), &src_raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> src(src_raw, sqlite3_close_v2);
  if (rc1 != SQLITE_OK) throw_sqlite(src_raw, from, "merge: open input for copy");
  const int rc2 = sqlite3_open_v2(to.c_str(), &dst_raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> dst(dst_raw, sqlite3_close_v2);
  if (rc2 != SQLITE_OK) throw_sqlite(dst_raw, to, "merge: create scratch copy");
  sqlite3_backup* backup = sqlite3_backup_init(dst_raw, "main", src_raw, "main");
  if (backup == nullptr) throw_sqlite(dst_raw, to, "merge: copy input");
  const int rc = sqlite3_backup_step(backup, -1);
  sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) throw make_error(from, "merge: copy input", sqlite3_errstr(rc), rc);
}

int64_t changes(sqlite3* db) { return sqlite3_changes64(db); }

void merge_one(sqlite3* db, const std::string& out_path, const std::string& source, MergeStats& stats) {
  const std::string& path = out_path;
  {
    Statement attach(db, path, "ATTACH DATABASE ?1 AS src", "merge: attach input");
    attach.bind_text(1, source);
    attach.run();
  }
  struct Detach {
    sqlite3* db;
    ~Detach() {
      sqlite3_exec(db, "DROP TABLE IF EXISTS temp.merge_hosts; DROP TABLE IF EXISTS temp.merge_runs", nullptr,
                   nullptr, nullptr);
      sqlite3_exec(db, "DETACH DATABASE src", nullptr, nullptr, nullptr);
    }
  } detach{db};
  const int64_t version = query_int(db, path, "PRAGMA src.user_version", "merge: read input schema version");
  if (version != Store::kSchemaVersion) {
    throw make_error(source, "merge", fmt::format("schema version {} (expected {})", version, Store::kSchemaVersion),
                     SQLITE_MISMATCH);
  }
  Transaction tx(db, path, "merge", Transaction::Kind::kWrite);
  auto run = [&](const std::string& sql, const char* op) {
    exec(db, path, sql.c_str(), fmt::format("merge '{}': {}", source, op));
    return changes(db);
  };
  stats.hosts_added += run(fmt::format("INSERT INTO main.hosts ({0}) SELECT {0} FROM src.hosts WHERE true "
                                       "ON CONFLICT DO NOTHING",
                                       kHostCols),
                           "hosts");
  run("CREATE TEMP TABLE merge_hosts AS SELECT s.id AS src_id, d.id AS dst_id FROM src.hosts s "
      "JOIN main.hosts d ON d.hostname = s.hostname AND d.cpu_vendor = s.cpu_vendor AND d.cpu_brand = s.cpu_brand "
      "AND d.cpu_family = s.cpu_family AND d.cpu_model = s.cpu_model AND d.cpu_stepping = s.cpu_stepping "
      "AND d.cpu_codename = s.cpu_codename AND d.kernel = s.kernel AND d.microcode = s.microcode "
      "AND d.hypervisor = s.hypervisor AND d.vcpus = s.vcpus",
      "map hosts");
  const int64_t src_runs = query_int(db, path, "SELECT count(*) FROM src.runs", "merge: count runs");
  const int64_t added_runs =
      run("INSERT INTO main.runs (host_id, scenario, params, placement, seed, command_line, version, "
          "started_at_ms, ended_at_ms, cell, shard, campaign_hash, run_uid, invocation, artifacts_dir, "
          "expect, shard_group, planned_trials) "
          "SELECT hm.dst_id, r.scenario, r.params, r.placement, r.seed, r.command_line, r.version, "
          "r.started_at_ms, r.ended_at_ms, r.cell, r.shard, r.campaign_hash, r.run_uid, r.invocation, "
          "r.artifacts_dir, r.expect, r.shard_group, r.planned_trials "
          "FROM src.runs r JOIN temp.merge_hosts hm ON hm.src_id = r.host_id "
          "WHERE NOT EXISTS (SELECT 1 FROM main.runs d WHERE d.run_uid = r.run_uid) ORDER BY r.id",
          "runs");
  stats.runs_added += added_runs;
  stats.runs_already_present += src_runs - added_runs;
  run("INSERT INTO main.skipped_cells (host_id, invocation, scenario, params, placement, expect, reason, "
      "recorded_at_ms) SELECT hm.dst_id, k.invocation, k.scenario, k.params, k.placement, k.expect, k.reason, "
      "k.recorded_at_ms FROM src.skipped_cells k JOIN temp.merge_hosts hm ON hm.src_id = k.host_id WHERE true "
      "ON CONFLICT DO NOTHING",
      "skipped cells");
  // A run merged while in progress gets its end time from a later copy.
  run("UPDATE main.runs SET ended_at_ms = s.ended_at_ms FROM src.runs s WHERE s.run_uid = main.runs.run_uid "
      "AND main.runs.ended_at_ms IS NULL AND s.ended_at_ms IS NOT NULL",
      "run end times");
  run("CREATE TEMP TABLE merge_runs (src_id INTEGER PRIMARY KEY, dst_id INTEGER NOT NULL)", "map runs");
  run("INSERT INTO temp.merge_runs SELECT s.id, d.id FROM src.runs s JOIN main.runs d ON d.run_uid = s.run_uid",
      "map runs");
  stats.signatures_added +=
      run("INSERT INTO main.signatures (hash, normalized, first_seen_ms, last_seen_ms, count) "
          "SELECT hash, normalized, first_seen_ms, last_seen_ms, 0 FROM src.signatures WHERE true "
          "ON CONFLICT (hash) DO NOTHING",
          "signatures");
  const int64_t src_trials = query_int(db, path, "SELECT count(*) FROM src.trials", "merge: count trials");
  const int64_t added_trials =
      run("INSERT INTO main.trials (run_id, idx, outcome, duration_ms, cpus_used, message, finished_at_ms) "
          "SELECT rm.dst_id, t.idx, t.outcome, t.duration_ms, t.cpus_used, t.message, t.finished_at_ms "
          "FROM src.trials t JOIN temp.merge_runs rm ON rm.src_id = t.run_id WHERE true "
          "ORDER BY t.id ON CONFLICT (run_id, idx) DO NOTHING",
          "trials");
  stats.trials_added += added_trials;
  stats.trials_already_present += src_trials - added_trials;
  stats.failures_added +=
      run("INSERT INTO main.failures (trial_id, signature_id, message, log_excerpt, artifact_path, recorded_at_ms) "
          "SELECT dt.id, ds.id, f.message, f.log_excerpt, f.artifact_path, f.recorded_at_ms "
          "FROM src.failures f JOIN src.trials st ON st.id = f.trial_id "
          "JOIN temp.merge_runs rm ON rm.src_id = st.run_id "
          "JOIN main.trials dt ON dt.run_id = rm.dst_id AND dt.idx = st.idx "
          "JOIN src.signatures ss ON ss.id = f.signature_id JOIN main.signatures ds ON ds.hash = ss.hash "
          "WHERE true ORDER BY f.id ON CONFLICT (trial_id) DO NOTHING",
          "failures");
  run("UPDATE main.signatures SET count = agg.n, first_seen_ms = agg.first, last_seen_ms = agg.last "
      "FROM (SELECT signature_id, count(*) AS n, min(recorded_at_ms) AS first, max(recorded_at_ms) AS last "
      "FROM main.failures GROUP BY signature_id) AS agg WHERE agg.signature_id = main.signatures.id",
      "recount signatures");
  tx.commit();
}

}  // namespace

MergeStats merge(const std::string& output_path, const std::vector<std::string>& inputs) {
  MergeStats stats;
  Store out(output_path);
  out.check_integrity();  // before anything is added to it
  sqlite3* db = StoreAccess::db(out);
  const std::string& path = StoreAccess::path(out);
  for (const std::string& input : inputs) {
    if (same_file(input, output_path)) {
      throw StoreError(fmt::format("merge: input '{}' is the output file", input));
    }
    const int64_t version = input_version(input);
    if (version > Store::kSchemaVersion) {
      throw StoreError(fmt::format(
          "merge: input '{}' has schema version {}, newer than this flakelab build supports (version {})", input,
          version, Store::kSchemaVersion));
    }
    if (version == Store::kSchemaVersion) {
      merge_one(db, path, input, stats);
    } else {
      // Never migrate an input in place: migrate a private copy.
      ScratchDir scratch;
      const std::string copy = scratch.file("input.db");
      copy_database(input, copy);
      { Store migrate(copy); }
      merge_one(db, path, copy, stats);
    }
    ++stats.inputs;
  }
  return stats;
}

}  // namespace flakelab::results
