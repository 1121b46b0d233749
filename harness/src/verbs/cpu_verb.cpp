// `flakelab cpu [--json]`: the CPU identity, the machine as the OS sees it, the hypervisor.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <memory>

#include "flakelab/harness/cli_verb.h"
#include "flakelab/harness/cpu_identity.h"

namespace flakelab::harness {
namespace {

class CpuVerb final : public Verb {
 public:
  std::string name() const override { return "cpu"; }
  std::string description() const override {
    return "print the CPU identity, the machine as the OS sees it (hwloc), the hypervisor and kernel";
  }
  void declare(CLI::App& verb) override { verb.add_flag("--json", json_, "print JSON"); }
  int execute(const Invocation&) override {
    const CpuIdentity identity = detect_cpu_identity();
    fmt::print("{}", json_ ? format_cpu_json(identity) : format_cpu_text(identity));
    return kExitOk;
  }

 private:
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Verb> make_cpu_verb() { return std::make_unique<CpuVerb>(); }

}  // namespace flakelab::harness
