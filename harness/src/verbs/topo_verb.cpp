// `flakelab topo`: the topology (hwloc) and the placements it offers.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <memory>

#include "flakelab/harness/cli_verb.h"
#include "flakelab/harness/topo_command.h"
#include "flakelab/harness/topology.h"
#include "flakelab/harness/integer_option.h"

namespace flakelab::harness {
namespace {

class TopoVerb final : public Verb {
 public:
  std::string name() const override { return "topo"; }
  std::string description() const override { return "print the topology (hwloc) and the placements it offers"; }
  void declare(CLI::App& verb) override {
    verb.add_flag("--json", json_, "print JSON");
    verb.add_option("--topology", spec_, "plan against an hwloc XML file or a synthetic description");
    add_integer_option(verb, "-j,--jobs", jobs_, "plan placements for this many workers")->capture_default_str();
    verb.add_flag("--share-pus", share_, "let workers share PUs");
  }
  int execute(const Invocation&) override {
    const Topology topology = spec_.empty() ? Topology() : Topology::from_spec(spec_);
    if (jobs_ < 1) throw UsageError(fmt::format("-j {}: need at least 1 worker", jobs_));
    fmt::print("{}", json_ ? format_topology_json(topology, jobs_, share_) : format_topology_text(topology, jobs_, share_));
    return kExitOk;
  }

 private:
  bool json_ = false, share_ = false;
  int jobs_ = 1;
  std::string spec_;
};

}  // namespace

std::unique_ptr<Verb> make_topo_verb() { return std::make_unique<TopoVerb>(); }

}  // namespace flakelab::harness
