// flakelab results store: one SQLite file (WAL) holding hosts, runs and trials.
//
// The Store is the single owner of the sqlite3 connection. Writers append trials
// through add_trial(); rows are buffered and written in one transaction per batch
// (flush() or the destructor writes the rest).
//
// Several processes may write one file at once: each opens its own Store (a Store, like
// any SQLite connection, must not be carried across fork()). A Store is not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace flakelab::results {

// Raised for every SQLite failure and for unusable files; the message names the
// path and the failed statement/operation.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Outcome { kPass, kFail, kTimeout, kError };
const char* to_string(Outcome outcome);             // "pass", "fail", "timeout", "error"
std::optional<Outcome> outcome_from_string(const std::string& text);

struct HostInfo {
  std::string hostname;
  std::string cpu_vendor;      // e.g. "AuthenticAMD"
  std::string cpu_brand;       // e.g. "AMD EPYC 7763 64-Core Processor"
  int cpu_family = 0;          // extended (display) family
  int cpu_model = 0;           // extended (display) model
  int cpu_stepping = 0;
  std::string cpu_codename;    // libcpuid's codename
  std::string kernel;          // uname -r
  std::string microcode;       // from /proc/cpuinfo, may be empty
};

struct RunInfo {
  std::string scenario;
  std::string params;          // canonical "k=v,k=v" (sorted by key)
  std::string placement;       // e.g. "victim=0,injector=1" or "unpinned"
  uint64_t seed = 0;
  std::string command_line;
  std::string version;         // flakelab version
  int64_t started_at_ms = 0;   // unix epoch milliseconds
};

struct TrialRecord {
  int64_t index = 0;           // 0-based trial index within the run
  Outcome outcome = Outcome::kPass;
  double duration_ms = 0;
  std::string cpus_used;       // e.g. "victim=0,injector=1" as read back after binding
  std::string message;         // failure/error/timeout message, empty on pass
};

// A run as stored; ended_at_ms is unset while the run is in progress (or if it crashed).
struct RunRecord {
  int64_t id = 0;
  int64_t host_id = 0;
  RunInfo info;
  std::optional<int64_t> ended_at_ms;
};

struct MessageCount {
  std::string message;
  int64_t count = 0;
};

struct RunSummary {
  int64_t run_id = 0;
  std::string scenario;
  std::string params;
  std::string placement;
  int64_t trials = 0;
  int64_t passes = 0;
  int64_t failures = 0;        // outcome == fail
  int64_t timeouts = 0;
  int64_t errors = 0;
  double rate = 0;             // (failures + timeouts) / trials
  double wilson_low = 0;       // 95% Wilson score interval of rate
  double wilson_high = 0;
  std::vector<MessageCount> messages;  // distinct non-pass messages, most frequent first
};

class Store {
 public:
  static constexpr int kSchemaVersion = 1;
  // How long a writer waits for another process's write transaction before failing.
  static constexpr int kBusyTimeoutMs = 30000;

  // Opens (creating if needed) the database at `path`, enables WAL and foreign keys,
  // creates or checks the schema. Throws StoreError on failure or on a schema newer
  // than this build understands.
  explicit Store(const std::string& path, int batch_size = 256);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Inserts the host row (or returns the id of an identical existing one).
  int64_t upsert_host(const HostInfo& host);
  int64_t begin_run(int64_t host_id, const RunInfo& run);
  void end_run(int64_t run_id, int64_t ended_at_ms);

  // Buffers a trial; writes a batch when batch_size rows are pending. Throws StoreError
  // right away for a run that does not exist.
  void add_trial(int64_t run_id, const TrialRecord& trial);
  // Writes all pending trials in one transaction. If a row violates a constraint (e.g. a
  // trial index recorded twice for a run), that row is dropped and named in the error; the
  // other rows stay pending. On any other failure (e.g. the lock wait timed out) every row
  // stays pending, so calling flush() again retries.
  void flush();
  int64_t pending_trials() const;

  // Queries. An empty run list means "all runs".
  std::vector<int64_t> run_ids() const;
  RunSummary summarize(int64_t run_id);                // flushes first
  std::vector<TrialRecord> trials(int64_t run_id);   // flushes first; ordered by index
  RunRecord run(int64_t run_id) const;                // throws StoreError if absent
  HostInfo host(int64_t host_id) const;               // throws StoreError if absent
  int schema_version() const;
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// 95% Wilson score interval for `failures` out of `trials` (z = 1.959964).
struct Interval {
  double low = 0;
  double high = 0;
};
// trials == 0 gives [0, 1]. Throws std::invalid_argument unless 0 <= failures <= trials.
Interval wilson_interval(int64_t failures, int64_t trials, double z = 1.959963984540054);

// One-sided upper bound on the failure rate after `trials` trials without a failure:
// 1 - (1 - confidence)^(1/trials), about 3/trials at 95% ("rule of three"). 1 for 0 trials.
double zero_failure_upper_bound(int64_t trials, double confidence = 0.95);

}  // namespace flakelab::results
