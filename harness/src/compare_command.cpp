#include "flakelab/harness/compare_command.h"

#include <fmt/core.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <tuple>

#include "flakelab/harness/error.h"
#include "flakelab/results/rate_format.h"
#include "flakelab/results/stats.h"
#include "flakelab/results/store.h"

namespace flakelab::harness {
namespace {

struct Cell {
  std::string scenario, placement, params;
  int64_t run_id = 0;
  int64_t trials = 0;
  int64_t failing = 0;  // fail + timeout, as in the rates
  std::string key() const { return scenario + "  " + placement + "  " + (params.empty() ? "-" : params); }
};

// The cells of `run_id`'s invocation (or that run alone, for runs recorded without one).
std::vector<Cell> cells_of(results::Store& store, const std::string& db, int64_t run_id) {
  const std::vector<int64_t> ids = store.run_ids();
  if (std::find(ids.begin(), ids.end(), run_id) == ids.end()) {
    throw UsageError(fmt::format("no run {} in {} ({} runs recorded)", run_id, db, ids.size()));
  }
  const std::optional<std::string> invocation = store.run(run_id).info.invocation;
  std::vector<Cell> out;
  for (int64_t id : ids) {
    if (id != run_id && (!invocation || store.run(id).info.invocation != invocation)) continue;
    const results::RunSummary summary = store.summarize(id);
    Cell cell;
    cell.scenario = summary.scenario;
    cell.placement = summary.placement;
    cell.params = summary.params;
    cell.run_id = id;
    cell.trials = summary.trials;
    cell.failing = summary.failures + summary.timeouts;
    out.push_back(cell);
  }
  return out;
}

std::string rate_text(const Cell& cell) {
  if (cell.trials == 0) return "no trials";
  if (cell.failing == 0) {
    return fmt::format("0/{} ({})", cell.trials,
                       results::format_upper_bound(results::zero_failure_upper_bound(cell.trials)));
  }
  return fmt::format("{}/{} {} ({})", cell.failing, cell.trials, results::format_rate(cell.failing, cell.trials),
                     results::format_interval(results::wilson_interval(cell.failing, cell.trials), ".."));
}

std::unique_ptr<results::Store> open_existing(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw os_error("open database " + path);
  return std::make_unique<results::Store>(path);
}

}  // namespace

std::string compare_runs(const CompareRequest& request) {
  const std::string db_b = request.db_b.empty() ? request.db_a : request.db_b;
  auto store_a = open_existing(request.db_a);
  std::unique_ptr<results::Store> own_b;
  results::Store* store_b = store_a.get();
  if (db_b != request.db_a) {
    own_b = open_existing(db_b);
    store_b = own_b.get();
  }
  const std::vector<Cell> a = cells_of(*store_a, request.db_a, request.run_a);
  const std::vector<Cell> b = cells_of(*store_b, db_b, request.run_b);

  std::vector<std::pair<const Cell*, const Cell*>> pairs;
  if (a.size() == 1 && b.size() == 1) {
    pairs.emplace_back(&a[0], &b[0]);  // one cell each: compare them even if they differ
  } else {
    for (const Cell& ca : a) {
      auto match = std::find_if(b.begin(), b.end(), [&](const Cell& cb) { return cb.key() == ca.key(); });
      pairs.emplace_back(&ca, match == b.end() ? nullptr : &*match);
    }
    for (const Cell& cb : b) {
      if (std::none_of(a.begin(), a.end(), [&](const Cell& ca) { return ca.key() == cb.key(); })) {
        pairs.emplace_back(nullptr, &cb);
      }
    }
  }
  std::string out = fmt::format("A: run {} of {} ({} cell{})   B: run {} of {} ({} cell{})\n", request.run_a,
                                request.db_a, a.size(), a.size() == 1 ? "" : "s", request.run_b, db_b, b.size(),
                                b.size() == 1 ? "" : "s");
  for (const auto& [ca, cb] : pairs) {
    if (ca != nullptr && cb != nullptr && ca->key() != cb->key()) {
      out += fmt::format("\nA {}\nB {}\n", ca->key(), cb->key());
    } else {
      out += fmt::format("\n{}\n", (ca != nullptr ? ca : cb)->key());
    }
    out += fmt::format("  A (run {}): {}\n", ca ? std::to_string(ca->run_id) : "-", ca ? rate_text(*ca) : "not run");
    out += fmt::format("  B (run {}): {}\n", cb ? std::to_string(cb->run_id) : "-", cb ? rate_text(*cb) : "not run");
    if (ca == nullptr || cb == nullptr || ca->trials == 0 || cb->trials == 0) continue;
    const double p = results::fisher_exact_two_sided(ca->failing, ca->trials, cb->failing, cb->trials);
    const double ra = static_cast<double>(ca->failing) / static_cast<double>(ca->trials);
    const double rb = static_cast<double>(cb->failing) / static_cast<double>(cb->trials);
    std::string verdict;
    if (p < 0.05) {
      verdict = rb < ra ? "B fails less than A: the difference is significant" : "B fails more than A: the difference is significant";
    } else {
      verdict = "no significant difference at 5%";
    }
    out += fmt::format("  Fisher's exact test (two-sided): p = {:.3g}; {}\n", p, verdict);
  }
  return out;
}

int compare_command(const CompareRequest& request) {
  fmt::print("{}", compare_runs(request));
  return kExitOk;
}

}  // namespace flakelab::harness
