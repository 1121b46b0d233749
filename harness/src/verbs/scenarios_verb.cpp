// `flakelab scenarios`: every scenario with its typed parameters and jitter points.
#include <fmt/core.h>

#include <memory>

#include "flakelab/harness/cli_verb.h"
#include "flakelab/harness/params.h"

namespace flakelab::harness {
namespace {

class ScenariosVerb final : public Verb {
 public:
  std::string name() const override { return "scenarios"; }
  std::string description() const override { return "list scenarios with their parameters and jitter points"; }
  void declare(CLI::App&) override {}
  int execute(const Invocation&) override {
    fmt::print("{}", format_scenario_list());
    return kExitOk;
  }
};

}  // namespace

std::unique_ptr<Verb> make_scenarios_verb() { return std::make_unique<ScenariosVerb>(); }

}  // namespace flakelab::harness
