// `flakelab gate`: the nightly verdict against a baseline.
#include <CLI/CLI.hpp>
#include <memory>

#include "flakelab/harness/cli_verb.h"
#include "flakelab/harness/gate_command.h"

namespace flakelab::harness {
namespace {

class GateVerb final : public Verb {
 public:
  std::string name() const override { return "gate"; }
  std::string description() const override {
    return "the nightly verdict: shards, must-not-fail cells, rates and signatures against a baseline";
  }
  void declare(CLI::App& verb) override {
    verb.add_option("--db", request_.db, "results database to judge (e.g. the merged nightly)")->required();
    baseline_opt_ = verb.add_option("--baseline", baseline_, "baseline database (e.g. the last good nightly)");
    verb.add_option("--alpha", request_.alpha, "family-wise significance level of the rate tests (Holm)")->capture_default_str();
    verb.add_option("--confidence", request_.confidence, "confidence of the zero-failure upper bounds")->capture_default_str();
    verb.add_flag("--pool-cpus", request_.pool_cpus, "match cells across CPU models");
    verb.add_option("--ignore-param", request_.ignore_params, "leave parameter NAME out of the cell key (repeatable)")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  }
  int execute(const Invocation&) override {
    if (baseline_opt_->count() > 0) request_.baseline = baseline_;
    return gate_command(request_);
  }

 private:
  GateRequest request_;
  std::string baseline_;
  CLI::Option* baseline_opt_ = nullptr;
};

}  // namespace

std::unique_ptr<Verb> make_gate_verb() { return std::make_unique<GateVerb>(); }

}  // namespace flakelab::harness
