#include "native_run.h"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

#include "flakelab/harness/campaign.h"
#include "flakelab/harness/campaign_runner.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/run_command.h"
#include "flakelab/harness/seed.h"
#include "flakelab/harness/topology.h"

namespace py = pybind11;
using namespace pybind11::literals;

namespace flakelab::python {
namespace {

// `-p delay=0 -p delay=500` from Python's params={"delay": [0, 500]}: one name, two values.
void merge_repeated_params(harness::CampaignSpec& spec) {
  for (harness::EntrySpec& entry : spec.entries) {
    std::vector<std::pair<std::string, std::vector<std::string>>> merged;
    for (auto& [name, values] : entry.params) {
      auto same = std::find_if(merged.begin(), merged.end(), [&](const auto& p) { return p.first == name; });
      if (same == merged.end()) {
        merged.emplace_back(name, std::move(values));
      } else {
        same->second.insert(same->second.end(), values.begin(), values.end());
      }
    }
    entry.params = std::move(merged);
  }
}

py::dict status_dict(const harness::RunProgress& p) {
  py::object eta = py::none();
  if (p.done > 0 && p.total > p.done) eta = py::float_(p.elapsed_s * static_cast<double>(p.total - p.done) / p.done);
  return py::dict("cells_done"_a = p.cells_done, "cells"_a = p.cells, "done"_a = p.done, "total"_a = p.total,
                  "failing"_a = p.failing, "errors"_a = p.errors, "elapsed_s"_a = p.elapsed_s,
                  "rate_per_s"_a = p.elapsed_s > 0 ? static_cast<double>(p.done) / p.elapsed_s : 0.0,
                  "eta_s"_a = eta,
                  "budget_left_s"_a = p.budget_left_s ? py::object(py::float_(*p.budget_left_s)) : py::none());
}

}  // namespace

py::object run_arguments(const std::vector<std::string>& args, const py::object& progress, const py::object& status,
                         double status_interval_s) {
  if (!progress.is_none() && !PyCallable_Check(progress.ptr())) {
    throw py::type_error("progress: expected a callable(done, total, failures) or None");
  }
  if (!status.is_none() && !PyCallable_Check(status.ptr())) {
    throw py::type_error("status: expected a callable(dict) or None");
  }
  if (!(status_interval_s > 0)) {
    throw py::value_error(fmt::format("status_interval: expected seconds > 0, got {}", status_interval_s));
  }
  // Validate everything before anything is written (UsageError becomes ValueError).
  const harness::RunOptions options = harness::parse_run_arguments(args);
  if (options.keep_hung) throw py::value_error("keep_hung waits at a terminal for a debugger; use the CLI for it");
  harness::CampaignSpec spec = harness::build_campaign_spec(options);
  merge_repeated_params(spec);
  const harness::Topology topology =
      spec.topology.empty() ? harness::Topology() : harness::Topology::from_spec(spec.topology);
  if (!spec.seed) spec.seed = harness::random_run_seed();
  const harness::CampaignPlan plan = harness::plan_campaign(spec, topology);
  if (options.dry_run || plan.simulated) return py::str(harness::format_plan(plan));

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
  if (!status.is_none()) {
    hooks.progress_interval = std::chrono::milliseconds(static_cast<int64_t>(status_interval_s * 1000));
    // An exception from the status callback cannot stop the run from here (on_progress
    // returns nothing); it is kept and stops the run at the next trial.
    hooks.on_progress = [&](const harness::RunProgress& p) {
      py::gil_scoped_acquire gil;
      if (pending) return;
      try {
        status(status_dict(p));
      } catch (py::error_already_set& e) {
        pending.emplace(std::move(e));
      }
    };
    auto on_trial = hooks.on_trial;
    hooks.on_trial = [&, on_trial](const harness::CellProgress& p) { return on_trial(p) && !pending; };
  }
  harness::CampaignResult result;
  {
    py::gil_scoped_release nogil;
    result = harness::run_campaign(plan, topology, hooks);
  }
  if (pending) {
    // KeyboardInterrupt (or a callback's exception): the finished trials are kept.
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

}  // namespace flakelab::python
