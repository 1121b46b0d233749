// The Python module `flakelab`: CPU identity and topology, the scenario catalog, running
// trials into a results DB (GIL released while a trial runs, progress callback, Ctrl-C stops
// cleanly), and Results: triage queries returned as pandas DataFrames.
#include <fmt/core.h>
#include <hwloc.h>
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "flakelab/harness/campaign.h"
#include "flakelab/harness/campaign_runner.h"
#include "flakelab/harness/cpu_identity.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/seed.h"
#include "flakelab/harness/topology.h"
#include "flakelab/results/query.h"
#include "flakelab/results/store.h"
#include "flakelab/scenarios/scenario.h"

#ifndef FLAKELAB_VERSION
#error "FLAKELAB_VERSION must be defined by the build"
#endif

namespace py = pybind11;
using namespace pybind11::literals;

namespace flakelab::python {
namespace {

// Columns in order; turned into a pandas.DataFrame (columns kept even with no rows).
class Columns {
 public:
  explicit Columns(std::vector<std::string> names) : names_(std::move(names)) {
    for (const auto& name : names_) data_[py::str(name)] = py::list();
  }
  template <typename T>
  void add(const char* name, T&& value) {
    data_[py::str(name)].cast<py::list>().append(py::cast(std::forward<T>(value)));
  }
  py::object frame() const {
    py::module_ pandas = py::module_::import("pandas");
    return pandas.attr("DataFrame")(data_, "columns"_a = py::cast(names_));
  }

 private:
  std::vector<std::string> names_;
  py::dict data_;
};

py::dict cpu() {
  const harness::CpuIdentity c = harness::detect_cpu_identity();
  return py::dict("vendor"_a = c.vendor, "brand"_a = c.brand, "family"_a = c.family,
                  "model"_a = c.model, "stepping"_a = c.stepping, "codename"_a = c.codename,
                  "codename_source"_a = c.codename_source, "libcpuid_codename"_a = c.libcpuid_codename,
                  "packages"_a = c.packages, "cores"_a = c.cores, "logical_cpus"_a = c.logical_cpus,
                  "numa_nodes"_a = c.numa_nodes, "l3_domains"_a = c.l3_domains,
                  "hypervisor"_a = c.hypervisor, "kernel"_a = c.kernel, "machine"_a = c.machine,
                  "hostname"_a = c.hostname,
                  "microcode"_a = c.microcode, "table_codename"_a = c.table_codename,
                  "microarchitecture"_a = c.microarchitecture, "smt"_a = c.smt);
}

py::dict topology() {
  const harness::Topology topo;
  auto count = [&](hwloc_obj_type_t type) { return hwloc_get_nbobjs_by_type(topo.raw(), type); };
  return py::dict("pus"_a = topo.pus(), "cpu_list"_a = harness::format_cpu_list(topo.pus()),
                  "packages"_a = count(HWLOC_OBJ_PACKAGE), "cores"_a = count(HWLOC_OBJ_CORE),
                  "machine_pus"_a = count(HWLOC_OBJ_PU), "l3_groups"_a = topo.l3_groups(),
                  "numa_nodes"_a = topo.numa_nodes(), "smt"_a = topo.smt());
}

py::list scenario_list() {
  py::list out;
  for (const auto& scenario : scenarios::registry()) {
    py::list params;
    for (const auto& p : scenario->params()) {
      params.append(py::dict("name"_a = p.name, "default"_a = p.default_value, "help"_a = p.help,
                             "type"_a = p.type_text(), "choices"_a = p.choices));
    }
    out.append(py::dict("name"_a = scenario->name(), "description"_a = scenario->description(),
                        "params"_a = params));
  }
  return out;
}

std::string placement_text(const py::object& cpus) {
  if (cpus.is_none()) return "";
  if (py::isinstance<py::str>(cpus)) return cpus.cast<std::string>();
  if (py::isinstance<py::dict>(cpus)) {
    std::string out;
    for (auto item : cpus.cast<py::dict>()) {
      if (!out.empty()) out += ',';
      out += py::str(item.first).cast<std::string>() + "=" + py::str(item.second).cast<std::string>();
    }
    return out;
  }
  throw py::type_error("cpus: expected None, a str like 'victim=0,injector=1' or a dict {role: cpu}");
}

std::vector<std::string> param_assignments(const py::object& params) {
  std::vector<std::string> out;
  if (params.is_none()) return out;
  if (!py::isinstance<py::dict>(params)) throw py::type_error("params: expected a dict {name: value}");
  for (auto item : params.cast<py::dict>()) {
    py::object value = py::reinterpret_borrow<py::object>(item.second);
    std::string text;
    if (py::isinstance<py::bool_>(value)) {
      text = value.cast<bool>() ? "on" : "off";
    } else {
      text = py::str(value).cast<std::string>();
    }
    out.push_back(py::str(item.first).cast<std::string>() + "=" + text);
  }
  return out;
}

// flakelab.run: one scenario, through the harness's run API (plan_campaign +
// run_campaign), the same code path as `flakelab run`.
py::object run(const std::string& scenario_name, int64_t trials, const py::object& params_obj,
               const std::string& db, std::optional<uint64_t> seed_opt, const py::object& cpus,
               double timeout_s, const py::object& progress, std::optional<std::string> placement, int jobs,
               const std::string& keep_artifacts) {
  if (!progress.is_none() && !PyCallable_Check(progress.ptr())) {
    throw py::type_error("progress: expected a callable(done, total, failures) or None");
  }
  // Validate everything before anything is written (UsageError becomes ValueError).
  harness::EntrySpec entry;
  entry.scenario = scenario_name;
  for (const std::string& assignment : param_assignments(params_obj)) {
    const size_t eq = assignment.find('=');
    entry.params.emplace_back(assignment.substr(0, eq), std::vector<std::string>{assignment.substr(eq + 1)});
  }
  entry.cpus = placement_text(cpus);
  if (placement) {
    if (!entry.cpus.empty()) throw py::value_error("cpus and placement both say where roles run; give one");
    entry.placements = *placement;
  }
  entry.trials = trials;
  harness::CampaignSpec spec;
  spec.entries.push_back(entry);
  spec.db = db;
  spec.seed = seed_opt.value_or(harness::random_run_seed());
  spec.jobs = jobs;
  spec.timeout_s = timeout_s;
  spec.keep_artifacts = harness::keep_artifacts_from_string(keep_artifacts);
  std::string params_text;
  for (const auto& [name, values] : entry.params) params_text += fmt::format("{}{}={}", params_text.empty() ? "" : ",", name, values[0]);
  spec.command_line = fmt::format("python: flakelab.run('{}', trials={}, params='{}', cpus='{}', placement='{}', jobs={}, timeout={})",
                                  scenario_name, trials, params_text, entry.cpus, entry.placements, jobs, timeout_s);
  const harness::Topology topology;
  const harness::CampaignPlan plan = harness::plan_campaign(spec, topology);

  std::optional<py::error_already_set> pending;  // an exception raised under a hook
  int64_t last_run = 0;
  harness::RunHooks hooks;
  hooks.on_cell_start = [&](const harness::PlannedCell&, size_t, int64_t run_id) { last_run = run_id; };
  hooks.on_trial = [&](const harness::CellProgress& p) {
    py::gil_scoped_acquire gil;
    // The trial is recorded: report it even if Ctrl-C came meanwhile (its
    // KeyboardInterrupt is held while the callback runs), then stop.
    std::optional<py::error_already_set> interrupted;
    if (PyErr_CheckSignals() != 0) interrupted.emplace();
    try {
      if (!progress.is_none()) progress(p.done, p.total, p.failing);
      if (!interrupted && PyErr_CheckSignals() != 0) interrupted.emplace();
    } catch (py::error_already_set& e) {
      if (!interrupted) interrupted.emplace(std::move(e));
    }
    if (!interrupted) return true;
    pending.emplace(std::move(*interrupted));
    return false;
  };
  hooks.should_stop = [&] {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() == 0) return false;
    pending.emplace();  // captures the KeyboardInterrupt just raised
    return true;
  };
  harness::CampaignResult result;
  {
    py::gil_scoped_release nogil;
    result = harness::run_campaign(plan, topology, hooks);
  }
  if (pending) {
    // KeyboardInterrupt (or the callback's exception): the finished trials are kept.
    try {
      pending->value().attr("run_id") = last_run;
    } catch (py::error_already_set&) {
      // e.g. an exception type without __dict__; the run id is only a convenience.
    }
    throw std::move(*pending);
  }
  if (result.cells.size() == 1) return py::int_(result.cells[0].run_id);
  py::list ids;
  for (const harness::CellResult& cell : result.cells) ids.append(cell.run_id);
  return ids;
}

// flakelab.Results: read-only triage over a results DB.
class Results {
 public:
  explicit Results(const std::string& path) {
    if (!std::filesystem::exists(path)) {
      PyErr_SetString(PyExc_FileNotFoundError, fmt::format("no results database at '{}'", path).c_str());
      throw py::error_already_set();
    }
    store_ = std::make_unique<results::Store>(path);
    query_ = std::make_unique<results::Query>(*store_);
  }

  py::object rates() {
    const auto rates = query_->rates();
    Columns c({"scenario", "placement", "params", "cpu_model", "runs", "trials", "passes", "failures",
               "timeouts", "errors", "failing", "rate", "wilson_low", "wilson_high", "upper_bound",
               "flaky", "verdict", "as_expected", "wall_ms"});
    for (const auto& r : rates) {
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
    }
    return c.frame();
  }

  py::object signatures() {
    const auto sigs = query_->signatures();
    Columns c({"hash", "normalized", "example_message", "count", "total_count", "first_seen_ms",
               "last_seen_ms", "cells"});
    for (const auto& s : sigs) {
      c.add("hash", s.hash);
      c.add("normalized", s.normalized);
      c.add("example_message", s.example_message);
      c.add("count", s.count);
      c.add("total_count", s.total_count);
      c.add("first_seen_ms", s.first_seen_ms);
      c.add("last_seen_ms", s.last_seen_ms);
      c.add("cells", s.cells);
    }
    return c.frame();
  }

  py::object trials(std::optional<int64_t> run_id, std::optional<std::string> signature) {
    std::vector<int64_t> ids;
    if (run_id) {
      store_->run(*run_id);  // throws StoreError (RuntimeError) if absent
      ids.push_back(*run_id);
    } else {
      ids = store_->run_ids();
    }
    std::set<std::pair<int64_t, int64_t>> wanted;
    if (signature) {
      results::Filter filter;
      if (run_id) filter.run_ids = ids;
      for (const auto& t : query_->trials_for_signature(*signature, filter)) wanted.emplace(t.run_id, t.index);
    }
    Columns c({"run_id", "scenario", "placement", "params", "index", "outcome", "duration_ms", "cpus_used",
               "message", "signature", "log_excerpt", "artifact_path", "finished_at_ms"});
    const results::Normalizer& normalizer = store_->normalizer();
    for (int64_t id : ids) {
      const results::RunRecord run = store_->run(id);
      for (const auto& t : store_->trials(id)) {
        if (signature && wanted.count({id, t.index}) == 0) continue;
        c.add("run_id", id);
        c.add("scenario", run.info.scenario);
        c.add("placement", run.info.placement);
        c.add("params", run.info.params);
        c.add("index", t.index);
        c.add("outcome", std::string(results::to_string(t.outcome)));
        c.add("duration_ms", t.duration_ms);
        c.add("cpus_used", t.cpus_used);
        c.add("message", t.message);
        const bool has_sig = t.outcome != results::Outcome::kPass && !t.message.empty();
        c.add("signature", has_sig ? normalizer.signature(t.message).hex() : std::string());
        c.add("log_excerpt", t.log_excerpt);
        c.add("artifact_path", t.artifact_path);
        c.add("finished_at_ms", t.finished_at_ms);
      }
    }
    return c.frame();
  }

  std::vector<int64_t> runs() const { return store_->run_ids(); }
  std::string path() const { return store_->path(); }

 private:
  std::unique_ptr<results::Store> store_;
  std::unique_ptr<results::Query> query_;
};

}  // namespace
}  // namespace flakelab::python

PYBIND11_MODULE(flakelab, m) {
  using namespace flakelab;
  using flakelab::python::Results;
  m.doc() = "flakelab: run flaky-test trials and triage their results (SQLite).";
  m.attr("__version__") = FLAKELAB_VERSION;

  py::register_exception<results::StoreError>(m, "StoreError", PyExc_RuntimeError);
  py::register_exception<harness::HarnessError>(m, "HarnessError", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const harness::UsageError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  m.def("cpu", &python::cpu,
        "Identity of this CPU, machine and kernel: dict with vendor, brand, family, model, stepping,\n"
        "codename (flakelab's table's, else libcpuid's), codename_source, libcpuid_codename,\n"
        "table_codename, microarchitecture (flakelab's table), packages, cores, logical_cpus,\n"
        "numa_nodes, l3_domains (what the OS sees, hwloc: a VM's vCPUs), smt, hypervisor (name,\n"
        "'' on bare metal), kernel, machine, hostname, microcode.");
  m.def("topology", &python::topology,
        "This machine's processing units (hwloc): dict with pus (Linux CPU numbers this process may\n"
        "use, ascending), cpu_list ('0-3' form), packages, cores, machine_pus, l3_groups,\n"
        "numa_nodes, smt.");
  m.def("scenarios", &python::scenario_list,
        "Every built-in scenario, sorted by name: list of dicts with name, description and params\n"
        "(a list of dicts with name, default, help, choices).");
  m.def("run", &python::run, py::arg("scenario"), py::kw_only(), py::arg("trials") = 100,
        py::arg("params") = py::none(), py::arg("db") = "flakelab.db", py::arg("seed") = py::none(),
        py::arg("cpus") = py::none(), py::arg("timeout") = 10.0, py::arg("progress") = py::none(),
        py::arg("placement") = py::none(), py::arg("jobs") = 1, py::arg("keep_artifacts") = "failed",
        "Runs `trials` trials of `scenario` into the results DB `db` and returns the run id (a list of\n"
        "run ids when `placement` names several placements or 'all': one run per offered placement).\n"
        "The same run API as `flakelab run`.\n\n"
        "params: dict {name: value} of scenario params (bools become on/off); seed: run seed (random\n"
        "if None); cpus: placement, 'victim=0,injector=1' or {'victim': 0, ...} (None: unpinned);\n"
        "timeout: seconds per trial; placement: 'same-pu', 'same-l3,random', 'all'... (instead of cpus);\n"
        "jobs: workers on disjoint PUs; keep_artifacts: failed | always | never;\n"
        "progress: callable(done, total, failures) called after each\n"
        "trial. The GIL is released while a trial runs. Ctrl-C (KeyboardInterrupt), or any exception\n"
        "raised by the callback, stops the run: finished trials are kept in the DB, the run is ended,\n"
        "and the exception propagates with a `run_id` attribute. Bad scenario/params/cpus raise\n"
        "ValueError before anything is written.");

  py::class_<Results>(m, "Results",
                      "A results DB opened for triage. Every query returns a pandas.DataFrame.\n"
                      "Failing means outcome fail or timeout; errors are counted, not rated.")
      .def(py::init<const std::string&>(), py::arg("path"),
           "Opens the results DB at `path` (FileNotFoundError if missing; migrates an older schema).")
      .def("rates", &Results::rates,
           "Failure rate per cell (scenario x placement x params x CPU model), ordered by cell.\n"
           "Columns: scenario, placement, params ('k=v,k=v'), cpu_model, runs, trials, passes,\n"
           "failures, timeouts, errors, failing (failures+timeouts), rate (failing/trials),\n"
           "wilson_low, wilson_high (95% Wilson interval), upper_bound (one-sided 95% bound when\n"
           "nothing failed, else wilson_high), flaky (some passed and some failed), verdict and as_expected "
           "(the rule of `flakelab run`: results/REPORTS.md), wall_ms.")
      .def("signatures", &Results::signatures,
           "Failure signatures, most frequent first. Columns: hash (16 hex digits), normalized,\n"
           "example_message, count, total_count, first_seen_ms, last_seen_ms (unix epoch ms), cells.")
      .def("trials", &Results::trials, py::arg("run") = py::none(), py::arg("signature") = py::none(),
           "Trials, ordered by run id then index; only run `run` and/or only those with signature\n"
           "hash `signature` when given. Columns: run_id, scenario, placement, params, index, outcome\n"
           "(pass/fail/timeout/error), duration_ms, cpus_used, message, signature (hash, '' for a\n"
           "pass or no message), log_excerpt, artifact_path, finished_at_ms.")
      .def("runs", &Results::runs, "Run ids in the DB, ascending.")
      .def_property_readonly("path", &Results::path);
}
