#include "flakelab/harness/report_command.h"

#include <fmt/core.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "flakelab/harness/error.h"
#include "flakelab/results/merge.h"
#include "flakelab/results/shard_sets.h"
#include "flakelab/results/query.h"
#include "flakelab/results/report.h"
#include "flakelab/results/reports.h"
#include "flakelab/results/verdict.h"

namespace flakelab::harness {

bool has_failures(const results::RunSummary& summary) {
  return summary.failures + summary.timeouts + summary.errors > 0;
}

namespace {

// Whether the run did not behave as it said it would (verdict.h, the rule of `run`): a report
// of a main job whose expected-flaky reproductions failed, as expected, exits 0.
bool unexpected(results::Store& store, int64_t run_id) {
  const results::RunSummary s = store.summarize(run_id);
  results::Counts counts;
  counts.trials = s.trials;
  counts.passes = s.passes;
  counts.failures = s.failures;
  counts.timeouts = s.timeouts;
  counts.errors = s.errors;
  results::ExpectedCounts by;
  by.add(results::expectation_of(store.run(run_id).info.expect), counts);
  return !results::as_expected(results::verdict_of(by));
}

}  // namespace

int report_command(const std::string& db_path, std::optional<int64_t> run_id) {
  struct stat st {};
  if (::stat(db_path.c_str(), &st) != 0) throw os_error("open database " + db_path);
  results::Store store(db_path);
  std::vector<int64_t> ids = store.run_ids();
  if (run_id) {
    if (std::find(ids.begin(), ids.end(), *run_id) == ids.end()) {
      throw UsageError(fmt::format("no run {} in {} ({} runs recorded)", *run_id, db_path,
                                   ids.size()));
    }
    ids = {*run_id};
  }
  if (ids.empty()) {
    fmt::print("no runs recorded in {}\n", db_path);
    return kExitOk;
  }
  bool failed = false;
  for (size_t i = 0; i < ids.size(); ++i) {
    const results::RunSummary summary = store.summarize(ids[i]);
    fmt::print("{}{}", i == 0 ? "" : "\n", results::format_summary_text(summary));
    failed = failed || unexpected(store, ids[i]);
  }
  return failed ? kExitTrialsFailed : kExitOk;
}

int formatted_report_command(const ReportRequest& request) {
  const auto format = results::report_format_from_string(request.format);
  if (!format) {
    throw UsageError(fmt::format("unknown report format '{}' (text, json, junit, html, markdown)", request.format));
  }
  struct stat st {};
  if (::stat(request.db_path.c_str(), &st) != 0) throw os_error("open database " + request.db_path);
  results::Store store(request.db_path);
  results::ReportOptions options;
  std::vector<int64_t> ids = store.run_ids();
  if (request.run_id) {
    if (std::find(ids.begin(), ids.end(), *request.run_id) == ids.end()) {
      throw UsageError(fmt::format("no run {} in {} ({} runs recorded)", *request.run_id, request.db_path,
                                   ids.size()));
    }
    options.filter.run_ids = {*request.run_id};
    ids = {*request.run_id};
  }
  if (request.since) {
    try {
      options.filter.since_ms = results::parse_date_ms(*request.since);
    } catch (const std::invalid_argument& e) {
      throw UsageError(fmt::format("--since: {}", e.what()));
    }
    std::erase_if(ids, [&](int64_t id) { return store.run(id).info.started_at_ms < *options.filter.since_ms; });
  }
  // Links to kept artifacts are relative to the page's directory.
  if (request.output) options.page_dir = std::filesystem::path(*request.output).parent_path().string();
  const std::string text = results::render_report(results::collect_report(store, options), *format);
  if (request.output) {
    std::ofstream out(*request.output, std::ios::binary | std::ios::trunc);
    if (!out) throw os_error("open " + *request.output + " for writing");
    out << text;
    out.close();
    if (!out) throw os_error("write " + *request.output);
    fmt::print(stderr, "report ({}) written to {}\n", request.format, *request.output);
  } else {
    fmt::print("{}", text);
  }
  bool failed = false;
  for (int64_t id : ids) failed = failed || unexpected(store, id);
  return failed ? kExitTrialsFailed : kExitOk;
}

int merge_command(const std::string& output, const std::vector<std::string>& inputs, bool require_complete) {
  for (const std::string& input : inputs) {
    struct stat st {};
    if (::stat(input.c_str(), &st) != 0) throw os_error("open input database " + input);
  }
  const results::MergeStats stats = results::merge(output, inputs);
  fmt::print("merged {} databases into {}: {} hosts, {} runs ({} already present), {} trials ({} already present), "
             "{} failures, {} new signatures\n",
             stats.inputs, output, stats.hosts_added, stats.runs_added, stats.runs_already_present, stats.trials_added,
             stats.trials_already_present, stats.failures_added, stats.signatures_added);
  // Shards of a sharded campaign: say whether every shard made it into the output.
  results::Store store(output);
  const std::vector<results::ShardSet> sets = results::shard_sets(store);
  fmt::print("{}", results::format_shard_sets(sets));
  const bool complete = std::all_of(sets.begin(), sets.end(), [](const results::ShardSet& s) { return s.complete(); });
  if (!complete && require_complete) {
    std::fflush(stdout);
    fmt::print(stderr, "flakelab: merge: some shard sets are incomplete (--require-complete)\n");
    return kExitTrialsFailed;
  }
  return kExitOk;
}

}  // namespace flakelab::harness
