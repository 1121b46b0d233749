#include "flakelab/results/shard_sets.h"

#include <fmt/format.h>

#include <charconv>
#include <map>
#include <set>
#include <tuple>

#include "store_internal.h"

namespace flakelab::results {

using namespace detail;  // NOLINT

namespace {

std::string join(const std::vector<int>& shards, int count) {
  std::string out;
  for (int shard : shards) out += fmt::format("{}{}/{}", out.empty() ? "" : ", ", shard, count);
  return out;
}

}  // namespace

bool parse_shard(const std::string& text, int& index, int& count) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos) return false;
  auto number = [](std::string_view part, int& out) {
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), out);
    return !part.empty() && ec == std::errc() && end == part.data() + part.size();
  };
  const std::string_view view(text);
  if (!number(view.substr(0, slash), index) || !number(view.substr(slash + 1), count)) return false;
  return count >= 1 && index >= 1 && index <= count;
}

std::string ShardSet::label() const {
  return fmt::format("campaign {} seed {}{}, {} shard{}", campaign_hash.empty() ? "(none)" : campaign_hash, seed,
                     group.empty() ? "" : " group " + group, count, count == 1 ? "" : "s");
}

std::vector<ShardSet> shard_sets(Store& store) {
  store.flush();
  sqlite3* db = StoreAccess::db(store);
  const std::string& path = StoreAccess::path(store);
  Transaction tx(db, path, "read shard sets", Transaction::Kind::kRead);
  Statement stmt(db, path,
                 "SELECT coalesce(r.campaign_hash, ''), r.seed, coalesce(r.shard_group, ''), r.shard, "
                 "r.ended_at_ms IS NULL, coalesce(r.invocation, r.run_uid), coalesce(r.planned_trials, 0), "
                 "(SELECT count(*) FROM trials t WHERE t.run_id = r.id) "
                 "FROM runs r WHERE r.shard IS NOT NULL ORDER BY r.id",
                 "read shard sets");
  struct Acc {
    ShardSet set;
    std::map<int, std::set<std::string>> invocations;
    std::set<int> unfinished;
  };
  std::map<std::tuple<std::string, std::string, std::string, int>, Acc> sets;
  while (stmt.next()) {
    int index = 0, count = 0;
    const std::string shard = stmt.column_text(3);
    if (!parse_shard(shard, index, count)) {
      throw make_error(path, "read shard sets", fmt::format("malformed shard '{}' (expected I/N)", shard),
                       SQLITE_MISMATCH);
    }
    Acc& acc = sets[{stmt.column_text(0), stmt.column_text(1), stmt.column_text(2), count}];
    acc.set.campaign_hash = stmt.column_text(0);
    acc.set.seed = stmt.column_text(1);
    acc.set.group = stmt.column_text(2);
    acc.set.count = count;
    acc.invocations[index].insert(stmt.column_text(5));
    if (stmt.column_int(4) != 0) acc.unfinished.insert(index);
    acc.set.runs += 1;
    acc.set.planned_trials += stmt.column_int(6);
    acc.set.trials += stmt.column_int(7);
  }
  stmt.reset();
  tx.commit();
  std::vector<ShardSet> out;
  for (auto& [key, acc] : sets) {
    for (int i = 1; i <= acc.set.count; ++i) {
      const auto it = acc.invocations.find(i);
      if (it == acc.invocations.end()) {
        acc.set.missing.push_back(i);
        continue;
      }
      acc.set.present.push_back(i);
      if (it->second.size() > 1) acc.set.duplicated.push_back(i);
    }
    acc.set.unfinished.assign(acc.unfinished.begin(), acc.unfinished.end());
    out.push_back(std::move(acc.set));
  }
  return out;
}

std::string format_shard_sets(const std::vector<ShardSet>& sets) {
  std::string out;
  for (const ShardSet& set : sets) {
    std::string state = set.complete() ? "complete" : "INCOMPLETE";
    if (!set.missing.empty()) state += "; missing " + join(set.missing, set.count);
    if (!set.unfinished.empty()) state += "; never ended (crashed?) " + join(set.unfinished, set.count);
    if (!set.duplicated.empty()) state += "; recorded more than once " + join(set.duplicated, set.count);
    out += fmt::format("shard set {}: {} ({} of {} shards, {} runs, {} trials)\n", set.label(), state,
                       set.present.size(), set.count, set.runs, set.trials);
  }
  return out;
}

}  // namespace flakelab::results
