// flakelab._native, the compiled half of the `flakelab` Python package (flakelab/__init__.py
// is the public face): CPU identity and topology, the scenario catalog with typed params,
// `flakelab run` (native_run.h), a results DB's tables as columns (native_store.h), and the
// triage verbs (native_commands.h).
#include <hwloc.h>
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <vector>

#include "flakelab/harness/cpu_identity.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/topology.h"
#include "flakelab/results/store.h"
#include "flakelab/scenarios/scenario.h"
#include "native_commands.h"
#include "native_run.h"
#include "native_store.h"

#ifndef FLAKELAB_VERSION
#error "FLAKELAB_VERSION must be defined by the build"
#endif

namespace py = pybind11;
using namespace pybind11::literals;

namespace flakelab::python {
namespace {

// The Python type a value of this parameter becomes in a DataFrame column
// (flakelab/_frames.py): on/off choices are booleans, durations timedeltas.
const char* param_kind(const scenarios::ParamSpec& p) {
  switch (p.type) {
    case scenarios::ParamType::kInteger: return "integer";
    case scenarios::ParamType::kProbability: return "float";
    case scenarios::ParamType::kDuration: return "duration";
    case scenarios::ParamType::kChoice:
      return p.choices.size() == 2 && std::ranges::count(p.choices, "on") == 1 &&
                     std::ranges::count(p.choices, "off") == 1
                 ? "bool"
                 : "choice";
    case scenarios::ParamType::kString: return "string";
  }
  return "string";
}

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
                             "type"_a = p.type_text(), "choices"_a = p.choices, "kind"_a = param_kind(p)));
    }
    out.append(py::dict("name"_a = scenario->name(), "description"_a = scenario->description(),
                        "params"_a = params));
  }
  return out;
}

}  // namespace
}  // namespace flakelab::python


PYBIND11_MODULE(_native, m) {
  using namespace flakelab;
  using python::NativeStore;
  m.doc() = "flakelab's compiled half; use the `flakelab` package, which documents every function.";
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

  m.def("cpu", &python::cpu);
  m.def("topology", &python::topology);
  m.def("scenarios", &python::scenario_list);
  m.def("run_arguments", &python::run_arguments, py::arg("args"), py::arg("progress"), py::arg("status"),
        py::arg("status_interval"));
  m.def("report", &python::report, py::arg("db"), py::arg("format"), py::arg("run"), py::arg("since"),
        py::arg("title"));
  m.def("compare", &python::compare, py::arg("db"), py::arg("run_a"), py::arg("run_b"), py::arg("db_b"));
  m.def("gate", &python::gate, py::arg("db"), py::arg("baseline"), py::arg("alpha"), py::arg("confidence"),
        py::arg("pool_cpus"), py::arg("ignore_params"));
  m.def("merge", &python::merge, py::arg("output"), py::arg("inputs"));

  py::class_<NativeStore>(m, "NativeStore")
      .def(py::init<const std::string&>(), py::arg("path"))
      .def("cells", &NativeStore::cells)
      .def("runs", &NativeStore::runs)
      .def("trials", &NativeStore::trials, py::arg("run"), py::arg("signature"))
      .def("signatures", &NativeStore::signatures)
      .def("skipped", &NativeStore::skipped)
      .def("run_ids", &NativeStore::run_ids)
      .def_property_readonly("path", &NativeStore::path);
}
