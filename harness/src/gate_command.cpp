#include "flakelab/harness/gate_command.h"

#include <fmt/core.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "flakelab/harness/error.h"
#include "flakelab/results/query.h"
#include "flakelab/results/shard_sets.h"
#include "flakelab/results/rate_format.h"
#include "flakelab/results/stats.h"
#include "flakelab/results/store.h"

namespace flakelab::harness {
namespace {

using results::CellKey;
using results::Counts;

std::unique_ptr<results::Store> open_existing(const std::string& path, const char* what) {
  struct stat st {};
  // A missing database is exit 3, as in report and merge: the input, not the usage, is wrong.
  if (::stat(path.c_str(), &st) != 0) throw os_error(fmt::format("open database {} {}", what, path));
  return std::make_unique<results::Store>(path);
}

// Drops `names` from "k=v,k=v".
std::string strip_params(const std::string& params, const std::vector<std::string>& names) {
  if (names.empty()) return params;
  std::string out;
  size_t start = 0;
  while (start <= params.size()) {
    size_t end = params.find(',', start);
    if (end == std::string::npos) end = params.size();
    const std::string item = params.substr(start, end - start);
    const std::string name = item.substr(0, item.find('='));
    if (!item.empty() && std::find(names.begin(), names.end(), name) == names.end()) {
      out += (out.empty() ? "" : ",") + item;
    }
    start = end + 1;
  }
  return out;
}

struct CellCounts {
  Counts all;
  Counts must_pass;     // runs recorded with expect = pass
  int64_t unknown_runs = 0;  // runs recorded before schema v4 (no expectation)
  int64_t flaky_runs = 0;
};

// The store's cells (keyed as the request says), with counts split by expectation.
std::map<CellKey, CellCounts> load_cells(results::Store& store, const GateRequest& request) {
  std::map<CellKey, CellCounts> cells;
  for (const results::RunRate& run : results::Query(store).runs()) {
    CellKey key = run.cell;
    key.params = strip_params(key.params, request.ignore_params);
    if (request.pool_cpus) key.cpu_model = "";
    CellCounts& cell = cells[key];
    cell.all.add(run.counts);
    const std::optional<std::string> expect = store.run(run.run_id).info.expect;
    if (!expect) ++cell.unknown_runs;
    else if (*expect == "pass") cell.must_pass.add(run.counts);
    else ++cell.flaky_runs;
  }
  return cells;
}

std::string label(const CellKey& key) {
  return fmt::format("{}  {}  {}{}", key.scenario, key.placement, key.params.empty() ? "-" : key.params,
                     key.cpu_model.empty() ? "" : "  @ " + key.cpu_model);
}

std::string rate_text(int64_t failing, int64_t trials) {
  if (trials == 0) return "no trials";
  return fmt::format("{}/{} ({})", failing, trials, results::format_rate(failing, trials));
}

}  // namespace

GateResult evaluate_gate(const GateRequest& request) {
  if (!(request.alpha > 0 && request.alpha < 1)) throw UsageError(fmt::format("--alpha {}: need 0 < alpha < 1", request.alpha));
  if (!(request.confidence > 0 && request.confidence < 1)) {
    throw UsageError(fmt::format("--confidence {}: need 0 < C < 1", request.confidence));
  }
  GateResult result;
  std::string& out = result.text;
  auto problem = [&](const std::string& text) {
    result.problems.push_back(text);
    out += "  FAIL " + text + "\n";
  };
  auto store = open_existing(request.db, "--db");
  std::unique_ptr<results::Store> baseline;
  if (request.baseline) baseline = open_existing(*request.baseline, "--baseline");
  const std::map<CellKey, CellCounts> cells = load_cells(*store, request);
  out += fmt::format("gate: {} ({} cells){}\n", request.db, cells.size(),
                     request.baseline ? fmt::format(" against baseline {}", *request.baseline)
                                      : " without a baseline");

  // 1. Shards.
  out += "shards:\n";
  const std::vector<results::ShardSet> sets = results::shard_sets(*store);
  if (sets.empty()) out += "  (no sharded runs)\n";
  for (const results::ShardSet& set : sets) {
    std::string line = results::format_shard_sets({set});
    line.pop_back();
    if (set.complete()) out += "  ok   " + line + "\n";
    else problem(line);
  }

  // 2. Cells that must not fail.
  out += "cells that must not fail:\n";
  std::vector<std::string> bounds;
  int64_t unknown = 0;
  for (const auto& [key, cell] : cells) {
    unknown += cell.unknown_runs > 0 ? 1 : 0;
    const Counts& c = cell.must_pass;
    if (c.trials == 0) continue;
    const int64_t bad = c.trials - c.passes;
    if (bad > 0) {
      problem(fmt::format("{}: must not fail, but {} of {} trials did not pass ({} fail, {} timeout, {} error)",
                          label(key), bad, c.trials, c.failures, c.timeouts, c.errors));
    } else {
      bounds.push_back(fmt::format("  ok   {}: 0 of {} failed; rate {} at {:g}% confidence", label(key), c.trials,
                                   results::format_upper_bound(
                                       results::zero_failure_upper_bound(c.trials, request.confidence)),
                                   100 * request.confidence));
    }
  }
  if (!bounds.empty()) {
    out += fmt::format("  ok   {} cell{} without a failure (bounds below)\n", bounds.size(), bounds.size() == 1 ? "" : "s");
  }
  if (unknown > 0) {
    out += fmt::format("  note: {} cell{} recorded without an expectation (before schema v4): not checked here\n",
                       unknown, unknown == 1 ? "" : "s");
  }

  if (!baseline) {
    out += "rates and signatures: not checked (no --baseline)\n";
  } else {
    // 3. Rates: flaky (or unknown) cells against the same cells of the baseline.
    const std::map<CellKey, CellCounts> base = load_cells(*baseline, request);
    struct Test {
      const CellKey* key;
      Counts now, then;
      double p;
    };
    std::vector<Test> tests;
    int64_t without_baseline = 0;
    for (const auto& [key, cell] : cells) {
      Counts now = cell.all;
      if (cell.must_pass.trials > 0) {  // judged above; its flaky runs (if any) still count here
        now.trials -= cell.must_pass.trials;
        now.passes -= cell.must_pass.passes;
        now.failures -= cell.must_pass.failures;
        now.timeouts -= cell.must_pass.timeouts;
        now.errors -= cell.must_pass.errors;
      }
      if (now.trials == 0) continue;
      const auto it = base.find(key);
      if (it == base.end() || it->second.all.trials == 0) {
        ++without_baseline;
        continue;
      }
      const Counts& then = it->second.all;
      tests.push_back({&key, now, then, results::fisher_exact_greater(now.failing(), now.trials, then.failing(), then.trials)});
    }
    std::sort(tests.begin(), tests.end(), [](const Test& a, const Test& b) { return a.p < b.p; });
    out += fmt::format("failure rates against the baseline (Fisher's exact test, one-sided, Holm over {} cell{}, "
                       "alpha {:g}):\n",
                       tests.size(), tests.size() == 1 ? "" : "s", request.alpha);
    bool rejecting = true;  // Holm: reject in order of p until the first that is not rejected
    for (size_t i = 0; i < tests.size(); ++i) {
      const Test& t = tests[i];
      const double threshold = request.alpha / static_cast<double>(tests.size() - i);
      rejecting = rejecting && t.p < threshold;
      const std::string line = fmt::format("{}: {} now, {} in the baseline; p = {:.3g} (threshold {:.3g})",
                                           label(*t.key), rate_text(t.now.failing(), t.now.trials),
                                           rate_text(t.then.failing(), t.then.trials), t.p, threshold);
      if (rejecting) problem(line + ": fails significantly more often than in the baseline");
      else out += "  ok   " + line + "\n";
    }
    if (without_baseline > 0) {
      out += fmt::format("  note: {} cell{} not in the baseline (new cell, CPU model or parameters; "
                         "--pool-cpus/--ignore-param match more)\n",
                         without_baseline, without_baseline == 1 ? " is" : "s are");
    }

    // 4. Signatures the baseline never had.
    std::set<std::string> known;
    for (const results::SignatureStats& sig : results::Query(*baseline).signatures()) known.insert(sig.hash);
    out += "failure signatures:\n";
    int64_t fresh = 0;
    for (const results::SignatureStats& sig : results::Query(*store).signatures()) {
      if (known.contains(sig.hash)) continue;
      ++fresh;
      std::string example = sig.example_message.substr(0, 300);
      problem(fmt::format("new signature {} ({} failure{} in {} cell{}), never seen in the baseline: {}\n"
                          "         example: {}",
                          sig.hash, sig.count, sig.count == 1 ? "" : "s", sig.cells, sig.cells == 1 ? "" : "s",
                          sig.normalized, example));
    }
    if (fresh == 0) out += "  ok   no signature the baseline did not have\n";
  }

  if (result.passed()) {
    out += "zero-failure upper bounds of the cells that must not fail:\n";
    for (const std::string& line : bounds) out += line + "\n";
    out += "gate: PASSED\n";
  } else {
    out += fmt::format("gate: FAILED ({} problem{})\n", result.problems.size(), result.problems.size() == 1 ? "" : "s");
  }
  return result;
}

int gate_command(const GateRequest& request) {
  const GateResult result = evaluate_gate(request);
  fmt::print("{}", result.text);
  return result.passed() ? kExitOk : kExitTrialsFailed;
}

}  // namespace flakelab::harness
