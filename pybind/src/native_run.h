// flakelab.run's native half: `flakelab run`'s own argument parser and run API, driven from
// Python with the GIL released while trials run.
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <vector>

namespace flakelab::python {

// Runs `flakelab run ARGS...` (args as the CLI takes them, without "flakelab run") into its
// database. Returns the run id (one cell) or the list of run ids, or the plan's text for a
// dry run (--dry-run, --topology). `progress(done, total, failing)` is called after every
// trial of a cell; `status(dict)` every `status_interval_s` seconds for the whole run.
// A repeated --param NAME is a grid over its values (campaign files' form; the CLI refuses it).
pybind11::object run_arguments(const std::vector<std::string>& args, const pybind11::object& progress,
                               const pybind11::object& status, double status_interval_s);

}  // namespace flakelab::python
