// `flakelab bisect-verdict`: for `git bisect run`, good (0), bad (1) or undecided (125).
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <exception>
#include <memory>

#include "flakelab/harness/bisect_command.h"
#include "flakelab/harness/cli_verb.h"
#include "flakelab/harness/duration_option.h"
#include "flakelab/harness/run_command.h"
#include "flakelab/harness/integer_option.h"

namespace flakelab::harness {
namespace {

class BisectVerb final : public Verb {
 public:
  std::string name() const override { return "bisect-verdict"; }
  std::string description() const override {
    return "for `git bisect run`: trials until good (0), bad (1) or undecided (125) against a baseline rate";
  }
  void declare(CLI::App& verb) override {
    verb.add_option("scenario", request_.scenario, "scenario name")->required();
    verb.add_option("-p,--param", request_.params, "scenario parameter NAME=VALUE (repeatable)")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    verb.add_option("--baseline-rate", request_.baseline_rate, "failure rate of a good commit, 0..1")->required();
    bad_opt_ = verb.add_option("--bad-rate", bad_rate_, "failure rate that counts as bad (default max(2P, P+0.05))");
    verb.add_option("--confidence", request_.confidence, "1 - the error probability each way")->capture_default_str();
    add_integer_option(verb, "--max-trials", request_.max_trials, "trial budget; undecided after it: skip (125)")->capture_default_str();
    verb.add_option("--placement", request_.placement, "one placement")->capture_default_str();
    verb.add_option("--db", request_.db, "SQLite database file")->capture_default_str();
    seed_opt_ = add_integer_option(verb, "--seed", seed_, "run seed (default: random, printed)");
    verb.add_option("--timeout", timeout_, "per-trial limit: a duration")->capture_default_str();
  }
  // Any failure stops the bisection: an exit status of 1 would call the commit bad.
  int execute(const Invocation& invocation) override {
    if (bad_opt_->count() > 0) request_.bad_rate = bad_rate_;
    if (seed_opt_->count() > 0) request_.seed = seed_;
    request_.command_line = quote_command_line(invocation.argc, invocation.argv);
    try {
      request_.timeout_s = parse_seconds_arg("--timeout", timeout_);
      return bisect_command(request_);
    } catch (const std::exception& e) {
      return print_failure(kBisectAbort, fmt::format("bisect-verdict: {} (exit {}: stops `git bisect run`)", e.what(),
                                                     static_cast<int>(kBisectAbort)));
    }
  }
  int usage_exit_code() const override { return kBisectAbort; }  // never let git bisect call it "bad"

 private:
  BisectRequest request_;
  double bad_rate_ = 0;
  uint64_t seed_ = 0;
  std::string timeout_ = "10s";
  CLI::Option *bad_opt_ = nullptr, *seed_opt_ = nullptr;
};

}  // namespace

std::unique_ptr<Verb> make_bisect_verb() { return std::make_unique<BisectVerb>(); }

}  // namespace flakelab::harness
