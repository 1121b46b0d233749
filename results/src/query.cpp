// Triage queries: aggregate per run in SQL (covering indexes), pool per cell in C++.
#include "flakelab/results/query.h"
#include "flakelab/results/stats.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "store_internal.h"

namespace flakelab::results {

using namespace detail;  // NOLINT

namespace {

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int number(std::string_view text) {
  int value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

}  // namespace

int64_t parse_date_ms(std::string_view text) {
  const auto bad = [&] {
    return std::invalid_argument(fmt::format(
        "invalid date '{}': expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS[Z] (UTC) or epoch milliseconds",
        text));
  };
  if (all_digits(text) && text.size() != 10) {
    int64_t ms = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (ec != std::errc() || end != text.data() + text.size()) throw bad();
    return ms;
  }
  if (text.size() < 10 || !all_digits(text.substr(0, 4)) || text[4] != '-' || !all_digits(text.substr(5, 2)) ||
      text[7] != '-' || !all_digits(text.substr(8, 2))) {
    throw bad();
  }
  const std::chrono::year_month_day date{std::chrono::year(number(text.substr(0, 4))),
                                         std::chrono::month(static_cast<unsigned>(number(text.substr(5, 2)))),
                                         std::chrono::day(static_cast<unsigned>(number(text.substr(8, 2))))};
  if (!date.ok()) throw bad();
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::sys_days(date).time_since_epoch())
                   .count();
  std::string_view rest = text.substr(10);
  if (rest.empty()) return ms;
  if (rest[0] != 'T' && rest[0] != ' ') throw bad();
  rest.remove_prefix(1);
  if (rest.size() < 8 || !all_digits(rest.substr(0, 2)) || rest[2] != ':' || !all_digits(rest.substr(3, 2)) ||
      rest[5] != ':' || !all_digits(rest.substr(6, 2))) {
    throw bad();
  }
  const int h = number(rest.substr(0, 2));
  const int m = number(rest.substr(3, 2));
  const int s = number(rest.substr(6, 2));
  if (h > 23 || m > 59 || s > 60) throw bad();
  ms += ((h * 60 + m) * 60 + s) * int64_t{1000};
  rest.remove_prefix(8);
  if (rest == "Z" || rest.empty()) return ms;
  throw bad();
}

std::string format_time_ms(int64_t epoch_ms) {
  using namespace std::chrono;
  const sys_time<milliseconds> t{milliseconds(epoch_ms)};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> hms{t - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), hms.hours().count(),
                     hms.minutes().count(), hms.seconds().count(), hms.subseconds().count());
}

std::weak_ordering natural_compare(std::string_view a, std::string_view b) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      std::size_t ie = i;
      std::size_t je = j;
      while (ie < a.size() && digit(a[ie])) ++ie;
      while (je < b.size() && digit(b[je])) ++je;
      // Compare without leading zeros: longer run is bigger, then digit by digit.
      std::size_t is = i;
      std::size_t js = j;
      while (is + 1 < ie && a[is] == '0') ++is;
      while (js + 1 < je && b[js] == '0') ++js;
      if (ie - is != je - js) return ie - is < je - js ? std::weak_ordering::less : std::weak_ordering::greater;
      if (const int c = a.substr(is, ie - is).compare(b.substr(js, je - js)); c != 0) {
        return c < 0 ? std::weak_ordering::less : std::weak_ordering::greater;
      }
      i = ie;
      j = je;
      continue;
    }
    if (a[i] != b[j]) {
      return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]) ? std::weak_ordering::less
                                                                                   : std::weak_ordering::greater;
    }
    ++i;
    ++j;
  }
  if (i < a.size() || j < b.size()) return i < a.size() ? std::weak_ordering::greater : std::weak_ordering::less;
  const int c = a.compare(b);  // equal but for leading zeros
  return c < 0 ? std::weak_ordering::less : (c > 0 ? std::weak_ordering::greater : std::weak_ordering::equivalent);
}

std::weak_ordering CellKey::operator<=>(const CellKey& other) const {
  if (auto c = natural_compare(scenario, other.scenario); c != 0) return c;
  if (auto c = natural_compare(placement, other.placement); c != 0) return c;
  if (auto c = natural_compare(params, other.params); c != 0) return c;
  return natural_compare(cpu_model, other.cpu_model);
}

std::optional<std::string> CellKey::param(std::string_view name) const {
  std::string_view rest = params;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const std::size_t eq = item.find('=');
    if (eq != std::string_view::npos && item.substr(0, eq) == name) return std::string(item.substr(eq + 1));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return std::nullopt;
}

void Counts::add(const Counts& other) {
  trials += other.trials;
  passes += other.passes;
  failures += other.failures;
  timeouts += other.timeouts;
  errors += other.errors;
}

namespace {

struct RunMeta {
  int64_t id = 0;
  std::string uid;
  CellKey cell;
  int64_t started_at_ms = 0;
  std::optional<int64_t> ended_at_ms;
  std::optional<std::string> expect;
  std::string hostname;
  std::string hypervisor;
  int vcpus = 0;
  uint64_t seed = 0;
  std::string command_line;
  std::string version;
};

// The runs in the filter, ordered by start time then id.
std::vector<RunMeta> load_runs(sqlite3* db, const std::string& path, const Filter& filter) {
  Statement stmt(db, path,
                 "SELECT r.id, r.run_uid, r.scenario, r.placement, r.params, h.cpu_brand, r.started_at_ms, "
                 "r.ended_at_ms, r.expect, h.hostname, h.hypervisor, h.vcpus, r.seed, r.command_line, r.version "
                 "FROM runs r JOIN hosts h ON h.id = r.host_id WHERE r.started_at_ms >= ?1 "
                 "ORDER BY r.started_at_ms, r.id",
                 "list runs");
  stmt.bind_int(1, filter.since_ms.value_or(std::numeric_limits<int64_t>::min()));
  const std::unordered_set<int64_t> wanted(filter.run_ids.begin(), filter.run_ids.end());
  std::vector<RunMeta> runs;
  while (stmt.next()) {
    RunMeta run;
    run.id = stmt.column_int(0);
    if (!wanted.empty() && !wanted.contains(run.id)) continue;
    run.uid = stmt.column_text(1);
    run.cell = {stmt.column_text(2), stmt.column_text(3), stmt.column_text(4), stmt.column_text(5)};
    run.started_at_ms = stmt.column_int(6);
    if (!stmt.column_is_null(7)) run.ended_at_ms = stmt.column_int(7);
    if (!stmt.column_is_null(8)) run.expect = stmt.column_text(8);
    run.hostname = stmt.column_text(9);
    run.hypervisor = stmt.column_text(10);
    run.vcpus = static_cast<int>(stmt.column_int(11));
    // Decimal text (a uint64 does not fit SQLite's INTEGER); the store validated it on insert.
    const std::string seed = stmt.column_text(12);
    std::from_chars(seed.data(), seed.data() + seed.size(), run.seed);
    run.command_line = stmt.column_text(13);
    run.version = stmt.column_text(14);
    runs.push_back(std::move(run));
  }
  return runs;
}

void count_outcome(Counts& counts, std::string_view outcome, int64_t n) {
  counts.trials += n;
  if (outcome == "pass") {
    counts.passes += n;
  } else if (outcome == "fail") {
    counts.failures += n;
  } else if (outcome == "timeout") {
    counts.timeouts += n;
  } else if (outcome == "error") {
    counts.errors += n;
  }
}

// Outcome counts per run. For every run, one scan of the (outcome, run_id) index; for a
// short list of runs, index seeks per run.
std::unordered_map<int64_t, Counts> count_trials(sqlite3* db, const std::string& path,
                                                 const std::vector<RunMeta>& runs, const Filter& filter) {
  std::unordered_map<int64_t, Counts> counts;
  for (const RunMeta& run : runs) counts[run.id];
  if (runs.empty()) return counts;
  if (!filter.run_ids.empty() && runs.size() <= 64) {
    Statement stmt(db, path, "SELECT count(*) FROM trials WHERE outcome = ?1 AND run_id = ?2",
                   "count outcomes");
    for (const RunMeta& run : runs) {
      for (const char* outcome : {"pass", "fail", "timeout", "error"}) {
        Reset reset(stmt);
        stmt.bind_text(1, outcome);
        stmt.bind_int(2, run.id);
        if (stmt.next()) count_outcome(counts[run.id], outcome, stmt.column_int(0));
      }
    }
    return counts;
  }
  Statement stmt(db, path,
                 "SELECT outcome, run_id, count(*) FROM trials INDEXED BY trials_by_outcome "
                 "GROUP BY outcome, run_id",
                 "count outcomes");
  while (stmt.next()) {
    const auto it = counts.find(stmt.column_int(1));
    if (it == counts.end()) continue;  // outside the filter
    count_outcome(it->second, stmt.column_text(0), stmt.column_int(2));
  }
  return counts;
}

void fill_rate(const Counts& counts, double& rate, double& low, double& high) {
  rate = counts.trials > 0 ? static_cast<double>(counts.failing()) / static_cast<double>(counts.trials) : 0.0;
  const Interval interval = wilson_interval(counts.failing(), counts.trials);
  low = interval.low;
  high = interval.high;
}

RunRate make_run_rate(const RunMeta& run, const Counts& counts) {
  RunRate rate;
  rate.run_id = run.id;
  rate.run_uid = run.uid;
  rate.cell = run.cell;
  rate.started_at_ms = run.started_at_ms;
  rate.ended_at_ms = run.ended_at_ms;
  rate.expect = run.expect;
  rate.hostname = run.hostname;
  rate.hypervisor = run.hypervisor;
  rate.vcpus = run.vcpus;
  rate.seed = run.seed;
  rate.command_line = run.command_line;
  rate.version = run.version;
  rate.counts = counts;
  fill_rate(counts, rate.rate, rate.wilson_low, rate.wilson_high);
  return rate;
}

// Failures per (signature, run): count, time range, earliest failure id.
struct SigRun {
  int64_t signature_id;
  int64_t run_id;
  int64_t count;
  int64_t first_ms;
  int64_t last_ms;
  int64_t first_failure_id;
};

std::vector<SigRun> failures_by_signature_and_run(sqlite3* db, const std::string& path) {
  Statement stmt(db, path,
                 "SELECT f.signature_id, t.run_id, count(*), min(f.recorded_at_ms), max(f.recorded_at_ms), "
                 "min(f.id) FROM failures f JOIN trials t ON t.id = f.trial_id "
                 "GROUP BY f.signature_id, t.run_id",
                 "count failures by signature");
  std::vector<SigRun> rows;
  while (stmt.next()) {
    rows.push_back({stmt.column_int(0), stmt.column_int(1), stmt.column_int(2), stmt.column_int(3),
                    stmt.column_int(4), stmt.column_int(5)});
  }
  return rows;
}

std::string failure_message(Statement& stmt, int64_t failure_id) {
  Reset reset(stmt);
  stmt.bind_int(1, failure_id);
  return stmt.next() ? stmt.column_text(0) : std::string();
}

}  // namespace

Query::Query(Store& store) : store_(store) {}

std::vector<CellRate> pool_by_cell(const std::vector<RunRate>& runs) {
  std::map<CellKey, CellRate> cells;
  for (const RunRate& run : runs) {
    CellRate& cell = cells[run.cell];
    cell.cell = run.cell;
    ++cell.runs;
    cell.counts.add(run.counts);
    cell.by_expectation.add(expectation_of(run.expect), run.counts);
    if (run.ended_at_ms && *run.ended_at_ms > run.started_at_ms) cell.wall_ms += *run.ended_at_ms - run.started_at_ms;
  }
  std::vector<CellRate> out;
  out.reserve(cells.size());
  for (auto& [key, cell] : cells) {
    fill_rate(cell.counts, cell.rate, cell.wilson_low, cell.wilson_high);
    cell.upper_bound =
        cell.counts.failing() == 0 ? zero_failure_upper_bound(cell.counts.trials, 0.95) : cell.wilson_high;
    cell.verdict = verdict_of(cell.by_expectation);
    out.push_back(std::move(cell));
  }
  return out;
}

std::vector<CellRate> Query::rates(const Filter& filter) { return pool_by_cell(runs(filter)); }

std::vector<SignatureStats> Query::signatures(const Filter& filter) {
  store_.flush();
  sqlite3* db = StoreAccess::db(store_);
  const std::string& path = StoreAccess::path(store_);
  Transaction tx(db, path, "query signatures", Transaction::Kind::kRead);
  const std::vector<RunMeta> runs = load_runs(db, path, filter);
  std::unordered_map<int64_t, const RunMeta*> by_id;
  for (const RunMeta& run : runs) by_id.emplace(run.id, &run);

  struct Acc {
    SignatureStats stats;
    int64_t first_failure_id = std::numeric_limits<int64_t>::max();
    std::set<CellKey> cells;
  };
  std::unordered_map<int64_t, Acc> acc;
  for (const SigRun& row : failures_by_signature_and_run(db, path)) {
    const auto run = by_id.find(row.run_id);
    if (run == by_id.end()) continue;
    auto [it, inserted] = acc.try_emplace(row.signature_id);
    Acc& a = it->second;
    if (inserted) {
      a.stats.first_seen_ms = row.first_ms;
      a.stats.last_seen_ms = row.last_ms;
    }
    a.stats.count += row.count;
    a.stats.first_seen_ms = std::min(a.stats.first_seen_ms, row.first_ms);
    a.stats.last_seen_ms = std::max(a.stats.last_seen_ms, row.last_ms);
    a.first_failure_id = std::min(a.first_failure_id, row.first_failure_id);
    a.cells.insert(run->second->cell);
  }
  Statement sig(db, path, "SELECT hash, normalized, count FROM signatures WHERE id = ?1", "read signature");
  Statement message(db, path, "SELECT message FROM failures WHERE id = ?1", "read failure");
  std::vector<SignatureStats> out;
  out.reserve(acc.size());
  for (auto& [id, a] : acc) {
    a.stats.id = id;
    {
      Reset reset(sig);
      sig.bind_int(1, id);
      if (!sig.next()) continue;  // impossible under the foreign key
      a.stats.hash = sig.column_text(0);
      a.stats.normalized = sig.column_text(1);
      a.stats.total_count = sig.column_int(2);
    }
    a.stats.example_message = failure_message(message, a.first_failure_id);
    a.stats.cells = static_cast<int64_t>(a.cells.size());
    out.push_back(std::move(a.stats));
  }
  std::sort(out.begin(), out.end(), [](const SignatureStats& x, const SignatureStats& y) {
    return x.count != y.count ? x.count > y.count : x.hash < y.hash;
  });
  tx.commit();
  return out;
}

std::vector<SignatureTrial> Query::trials_for_signature(const std::string& hash, const Filter& filter,
                                                        std::size_t limit) {
  store_.flush();
  sqlite3* db = StoreAccess::db(store_);
  const std::string& path = StoreAccess::path(store_);
  Transaction tx(db, path, "query trials for signature", Transaction::Kind::kRead);
  const std::vector<RunMeta> runs = load_runs(db, path, filter);
  std::unordered_map<int64_t, const RunMeta*> by_id;
  for (const RunMeta& run : runs) by_id.emplace(run.id, &run);
  Statement stmt(db, path,
                 "SELECT t.run_id, t.idx, t.outcome, t.duration_ms, f.message, f.log_excerpt, "
                 "f.artifact_path, f.recorded_at_ms FROM signatures s "
                 "JOIN failures f ON f.signature_id = s.id JOIN trials t ON t.id = f.trial_id "
                 "WHERE s.hash = ?1",
                 "read trials for signature");
  stmt.bind_text(1, hash);
  std::vector<SignatureTrial> out;
  while (stmt.next()) {
    const auto run = by_id.find(stmt.column_int(0));
    if (run == by_id.end()) continue;
    SignatureTrial trial;
    trial.run_id = run->second->id;
    trial.run_uid = run->second->uid;
    trial.cell = run->second->cell;
    trial.index = stmt.column_int(1);
    trial.outcome = outcome_from_string(stmt.column_text(2)).value_or(Outcome::kError);
    trial.duration_ms = stmt.column_double(3);
    trial.message = stmt.column_text(4);
    trial.log_excerpt = stmt.column_text(5);
    trial.artifact_path = stmt.column_text(6);
    trial.recorded_at_ms = stmt.column_int(7);
    out.push_back(std::move(trial));
  }
  stmt.reset();
  std::unordered_map<int64_t, std::size_t> order;  // run id -> position in start order
  for (std::size_t i = 0; i < runs.size(); ++i) order.emplace(runs[i].id, i);
  std::sort(out.begin(), out.end(), [&](const SignatureTrial& a, const SignatureTrial& b) {
    const std::size_t ra = order.at(a.run_id);
    const std::size_t rb = order.at(b.run_id);
    return ra != rb ? ra < rb : a.index < b.index;
  });
  if (limit != 0 && out.size() > limit) out.resize(limit);
  tx.commit();
  return out;
}

std::vector<CellSignature> Query::cell_signatures(const Filter& filter, std::size_t per_cell) {
  store_.flush();
  sqlite3* db = StoreAccess::db(store_);
  const std::string& path = StoreAccess::path(store_);
  Transaction tx(db, path, "query cell signatures", Transaction::Kind::kRead);
  const std::vector<RunMeta> runs = load_runs(db, path, filter);
  std::unordered_map<int64_t, const RunMeta*> by_id;
  for (const RunMeta& run : runs) by_id.emplace(run.id, &run);
  struct Acc {
    int64_t count = 0;
    int64_t first_failure_id = std::numeric_limits<int64_t>::max();
  };
  std::map<CellKey, std::unordered_map<int64_t, Acc>> cells;
  for (const SigRun& row : failures_by_signature_and_run(db, path)) {
    const auto run = by_id.find(row.run_id);
    if (run == by_id.end()) continue;
    Acc& a = cells[run->second->cell][row.signature_id];
    a.count += row.count;
    a.first_failure_id = std::min(a.first_failure_id, row.first_failure_id);
  }
  Statement sig(db, path, "SELECT hash, normalized FROM signatures WHERE id = ?1", "read signature");
  Statement message(db, path, "SELECT message FROM failures WHERE id = ?1", "read failure");
  std::vector<CellSignature> out;
  for (const auto& [cell, sigs] : cells) {
    std::vector<CellSignature> mine;
    std::vector<int64_t> first_ids;
    for (const auto& [id, a] : sigs) {
      CellSignature cs;
      cs.cell = cell;
      cs.count = a.count;
      Reset reset(sig);
      sig.bind_int(1, id);
      if (!sig.next()) continue;
      cs.hash = sig.column_text(0);
      cs.normalized = sig.column_text(1);
      cs.example_message = std::to_string(a.first_failure_id);  // resolved below for the kept ones
      mine.push_back(std::move(cs));
    }
    std::sort(mine.begin(), mine.end(), [](const CellSignature& x, const CellSignature& y) {
      return x.count != y.count ? x.count > y.count : x.hash < y.hash;
    });
    if (per_cell != 0 && mine.size() > per_cell) mine.resize(per_cell);
    for (CellSignature& cs : mine) {
      cs.example_message = failure_message(message, std::stoll(cs.example_message));
      out.push_back(std::move(cs));
    }
  }
  tx.commit();
  return out;
}

std::vector<FirstFailure> Query::first_failures(const Filter& filter) {
  store_.flush();
  sqlite3* db = StoreAccess::db(store_);
  const std::string& path = StoreAccess::path(store_);
  Transaction tx(db, path, "query first failures", Transaction::Kind::kRead);
  const std::vector<RunMeta> runs = load_runs(db, path, filter);
  std::unordered_map<int64_t, int64_t> first_index;  // run id -> index of first failing trial
  {
    Statement stmt(db, path,
                   "SELECT run_id, min(idx) FROM trials WHERE outcome IN ('fail', 'timeout') GROUP BY run_id",
                   "find first failures");
    while (stmt.next()) first_index.emplace(stmt.column_int(0), stmt.column_int(1));
  }
  Statement elapsed(db, path, "SELECT total(duration_ms) FROM trials WHERE run_id = ?1 AND idx <= ?2",
                    "sum durations to first failure");
  struct Acc {
    FirstFailure ff;
    double sum_trials = 0;
    double sum_ms = 0;
  };
  std::map<CellKey, Acc> cells;
  for (const RunMeta& run : runs) {
    Acc& a = cells[run.cell];
    a.ff.cell = run.cell;
    ++a.ff.runs;
    const auto it = first_index.find(run.id);
    if (it == first_index.end()) continue;
    // Indexes start at 0; a run whose first trials were never recorded still counts from 0.
    const int64_t trials = it->second + 1;
    double ms = 0;
    {
      Reset reset(elapsed);
      elapsed.bind_int(1, run.id);
      elapsed.bind_int(2, it->second);
      if (elapsed.next()) ms = elapsed.column_double(0);
    }
    a.ff.min_trials = a.ff.runs_with_failure == 0 ? trials : std::min(a.ff.min_trials, trials);
    a.ff.max_trials = std::max(a.ff.max_trials, trials);
    ++a.ff.runs_with_failure;
    a.sum_trials += static_cast<double>(trials);
    a.sum_ms += ms;
  }
  std::vector<FirstFailure> out;
  for (auto& [key, a] : cells) {
    if (a.ff.runs_with_failure > 0) {
      a.ff.mean_trials = a.sum_trials / static_cast<double>(a.ff.runs_with_failure);
      a.ff.mean_ms = a.sum_ms / static_cast<double>(a.ff.runs_with_failure);
    }
    out.push_back(std::move(a.ff));
  }
  tx.commit();
  return out;
}

std::vector<RunRate> Query::runs(const Filter& filter) {
  store_.flush();
  sqlite3* db = StoreAccess::db(store_);
  const std::string& path = StoreAccess::path(store_);
  Transaction tx(db, path, "query runs", Transaction::Kind::kRead);
  const std::vector<RunMeta> runs = load_runs(db, path, filter);
  const auto counts = count_trials(db, path, runs, filter);
  std::vector<RunRate> out;
  out.reserve(runs.size());
  for (const RunMeta& run : runs) out.push_back(make_run_rate(run, counts.at(run.id)));
  tx.commit();
  return out;
}

std::vector<RunRate> Query::rate_over_time(const CellKey& cell, const Filter& filter) {
  std::vector<RunRate> all = runs(filter);
  std::erase_if(all, [&](const RunRate& r) { return r.cell != cell; });
  return all;
}

std::vector<SkippedCellRow> Query::skipped_cells(const Filter& filter) {
  store_.flush();
  sqlite3* db = StoreAccess::db(store_);
  const std::string& path = StoreAccess::path(store_);
  Transaction tx(db, path, "query skipped cells", Transaction::Kind::kRead);
  std::unordered_set<std::string> invocations;
  if (!filter.run_ids.empty()) {
    Statement inv(db, path, "SELECT invocation FROM runs WHERE id = ?1 AND invocation IS NOT NULL",
                  "list invocations");
    for (int64_t id : filter.run_ids) {
      Reset reset(inv);
      inv.bind_int(1, id);
      if (inv.next()) invocations.insert(inv.column_text(0));
    }
  }
  Statement stmt(db, path,
                 "SELECT k.invocation, k.scenario, k.placement, k.params, h.cpu_brand, k.expect, k.reason, "
                 "k.recorded_at_ms FROM skipped_cells k JOIN hosts h ON h.id = k.host_id "
                 "WHERE k.recorded_at_ms >= ?1 ORDER BY k.recorded_at_ms, k.id",
                 "list skipped cells");
  stmt.bind_int(1, filter.since_ms.value_or(std::numeric_limits<int64_t>::min()));
  std::map<CellKey, SkippedCellRow> latest;
  while (stmt.next()) {
    if (!filter.run_ids.empty() && !invocations.contains(stmt.column_text(0))) continue;
    SkippedCellRow row;
    row.cell = {stmt.column_text(1), stmt.column_text(2), stmt.column_text(3), stmt.column_text(4)};
    if (!stmt.column_is_null(5)) row.expect = stmt.column_text(5);
    row.reason = stmt.column_text(6);
    row.recorded_at_ms = stmt.column_int(7);
    latest[row.cell] = std::move(row);
  }
  tx.commit();
  std::vector<SkippedCellRow> out;
  out.reserve(latest.size());
  for (auto& [key, row] : latest) out.push_back(std::move(row));
  return out;
}

}  // namespace flakelab::results
