#include "native_store.h"

#include <fmt/core.h>

#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include "columns.h"
#include "flakelab/results/verdict.h"

namespace py = pybind11;

namespace flakelab::python {
namespace {

py::object optional_int(const std::optional<int64_t>& value) {
  return value ? py::object(py::int_(*value)) : py::none();
}
py::object optional_text(const std::optional<std::string>& value) {
  return value ? py::object(py::str(*value)) : py::none();
}

// What a cell's runs expected: "pass", "flaky", both when its runs disagree, or None when
// none was recorded (runs before schema v4 count as must-pass, results/verdict.h).
py::object cell_expect(const results::ExpectedCounts& counts) {
  const bool pass = counts.must_pass.trials > 0;
  const bool flaky = counts.flaky.trials > 0;
  if (pass && flaky) return py::str("pass+flaky");
  if (flaky) return py::str("flaky");
  if (pass) return py::str("pass");
  return py::none();
}

}  // namespace

NativeStore::NativeStore(const std::string& path) {
  if (!std::filesystem::exists(path)) {
    PyErr_SetString(PyExc_FileNotFoundError, fmt::format("no results database at '{}'", path).c_str());
    throw py::error_already_set();
  }
  store_ = std::make_unique<results::Store>(path);
  query_ = std::make_unique<results::Query>(*store_);
}

py::dict NativeStore::cells() {
  Columns c({"scenario", "placement", "params", "cpu_model", "runs", "trials", "passes", "failures", "timeouts",
             "errors", "failing", "rate", "wilson_low", "wilson_high", "upper_bound", "flaky", "verdict",
             "as_expected", "wall_ms", "expect"});
  for (const results::CellRate& r : query_->rates()) {
    c.add("scenario", r.cell.scenario);
    c.add("placement", r.cell.placement);
    c.add("params", r.cell.params);
    c.add("cpu_model", r.cell.cpu_model);
    c.add("runs", r.runs);
    c.add("trials", r.counts.trials);
    c.add("passes", r.counts.passes);
    c.add("failures", r.counts.failures);
    c.add("timeouts", r.counts.timeouts);
    c.add("errors", r.counts.errors);
    c.add("failing", r.counts.failing());
    c.add("rate", r.rate);
    c.add("wilson_low", r.wilson_low);
    c.add("wilson_high", r.wilson_high);
    c.add("upper_bound", r.upper_bound);
    c.add("flaky", r.flaky());
    c.add("verdict", std::string(results::verdict_name(r.verdict)));
    c.add("as_expected", results::as_expected(r.verdict));
    c.add("wall_ms", r.wall_ms);
    c.add("expect", cell_expect(r.by_expectation));
  }
  return c.dict();
}

py::dict NativeStore::runs() {
  Columns c({"run_id", "run_uid", "invocation", "cell", "scenario", "placement", "params", "expect", "seed",
             "command_line", "version", "started_at_ms", "ended_at_ms", "shard", "shard_group", "campaign_hash",
             "planned_trials", "artifacts_dir", "hostname", "cpu_vendor", "cpu_model", "cpu_family",
             "cpu_model_number", "cpu_stepping", "cpu_codename", "microcode", "kernel", "hypervisor", "vcpus",
             "trials", "passes", "failures", "timeouts", "errors", "failing", "rate", "wilson_low", "wilson_high"});
  std::map<int64_t, results::HostInfo> hosts;
  for (const results::RunRate& r : query_->runs()) {
    const results::RunRecord record = store_->run(r.run_id);
    auto host = hosts.find(record.host_id);
    if (host == hosts.end()) host = hosts.emplace(record.host_id, store_->host(record.host_id)).first;
    const results::RunInfo& info = record.info;
    c.add("run_id", r.run_id);
    c.add("run_uid", record.run_uid);
    c.add("invocation", optional_text(info.invocation));
    c.add("cell", optional_text(info.cell));
    c.add("scenario", info.scenario);
    c.add("placement", info.placement);
    c.add("params", info.params);
    c.add("expect", optional_text(info.expect));
    c.add("seed", info.seed);
    c.add("command_line", info.command_line);
    c.add("version", info.version);
    c.add("started_at_ms", info.started_at_ms);
    c.add("ended_at_ms", optional_int(record.ended_at_ms));
    c.add("shard", optional_text(info.shard));
    c.add("shard_group", optional_text(info.shard_group));
    c.add("campaign_hash", optional_text(info.campaign_hash));
    c.add("planned_trials", optional_int(info.planned_trials));
    c.add("artifacts_dir", optional_text(info.artifacts_dir));
    const results::HostInfo& h = host->second;
    c.add("hostname", h.hostname);
    c.add("cpu_vendor", h.cpu_vendor);
    c.add("cpu_model", h.cpu_brand);
    c.add("cpu_family", h.cpu_family);
    c.add("cpu_model_number", h.cpu_model);
    c.add("cpu_stepping", h.cpu_stepping);
    c.add("cpu_codename", h.cpu_codename);
    c.add("microcode", h.microcode);
    c.add("kernel", h.kernel);
    c.add("hypervisor", h.hypervisor);
    c.add("vcpus", h.vcpus);
    c.add("trials", r.counts.trials);
    c.add("passes", r.counts.passes);
    c.add("failures", r.counts.failures);
    c.add("timeouts", r.counts.timeouts);
    c.add("errors", r.counts.errors);
    c.add("failing", r.counts.failing());
    c.add("rate", r.rate);
    c.add("wilson_low", r.wilson_low);
    c.add("wilson_high", r.wilson_high);
  }
  return c.dict();
}

py::dict NativeStore::trials(std::optional<int64_t> run_id, std::optional<std::string> hash) {
  std::vector<int64_t> ids;
  if (run_id) {
    store_->run(*run_id);  // throws StoreError if absent
    ids.push_back(*run_id);
  } else {
    ids = store_->run_ids();
  }
  std::set<std::pair<int64_t, int64_t>> wanted;
  if (hash) {
    results::Filter filter;
    if (run_id) filter.run_ids = ids;
    for (const auto& t : query_->trials_for_signature(*hash, filter)) wanted.emplace(t.run_id, t.index);
  }
  Columns c({"run_id", "index", "outcome", "duration_ms", "cpus_used", "message", "signature", "log_excerpt",
             "artifact_path", "finished_at_ms"});
  const results::Normalizer& normalizer = store_->normalizer();
  for (int64_t id : ids) {
    for (const results::TrialRecord& t : store_->trials(id)) {
      if (hash && !wanted.contains({id, t.index})) continue;
      c.add("run_id", id);
      c.add("index", t.index);
      c.add("outcome", std::string(results::to_string(t.outcome)));
      c.add("duration_ms", t.duration_ms);
      c.add("cpus_used", t.cpus_used);
      c.add("message", t.message);
      const bool has_signature = t.outcome != results::Outcome::kPass && !t.message.empty();
      c.add("signature", has_signature ? normalizer.signature(t.message).hex() : std::string());
      c.add("log_excerpt", t.log_excerpt);
      c.add("artifact_path", t.artifact_path);
      // 0: a pass recorded before schema v7, whose time was not kept.
      c.add("finished_at_ms", t.finished_at_ms != 0 ? py::object(py::int_(t.finished_at_ms)) : py::none());
    }
  }
  return c.dict();
}

py::dict NativeStore::signatures() {
  Columns c({"hash", "normalized", "example_message", "count", "total_count", "first_seen_ms", "last_seen_ms",
             "cells"});
  for (const results::SignatureStats& s : query_->signatures()) {
    c.add("hash", s.hash);
    c.add("normalized", s.normalized);
    c.add("example_message", s.example_message);
    c.add("count", s.count);
    c.add("total_count", s.total_count);
    c.add("first_seen_ms", s.first_seen_ms);
    c.add("last_seen_ms", s.last_seen_ms);
    c.add("cells", s.cells);
  }
  return c.dict();
}

py::dict NativeStore::skipped() {
  Columns c({"scenario", "placement", "params", "cpu_model", "expect", "reason", "recorded_at_ms"});
  for (const results::SkippedCellRow& s : query_->skipped_cells()) {
    c.add("scenario", s.cell.scenario);
    c.add("placement", s.cell.placement);
    c.add("params", s.cell.params);
    c.add("cpu_model", s.cell.cpu_model);
    c.add("expect", optional_text(s.expect));
    c.add("reason", s.reason);
    c.add("recorded_at_ms", s.recorded_at_ms);
  }
  return c.dict();
}

}  // namespace flakelab::python
