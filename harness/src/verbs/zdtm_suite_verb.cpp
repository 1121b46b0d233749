// `flakelab zdtm-suite --src CRIU_CHECKOUT`: CRIU's own static zdtm tests as a measure of
// an engine's coverage (the library engine, or --engine-cli criu / flakelab).
#include <CLI/CLI.hpp>
#include <memory>

#include "flakelab/harness/cli_verb.h"
#include "flakelab/harness/run_command.h"
#include "flakelab/harness/zdtm_suite_command.h"

namespace flakelab::harness {
namespace {

class ZdtmSuiteVerb final : public Verb {
 public:
  std::string name() const override { return "zdtm-suite"; }
  std::string description() const override {
    return "run every eligible static zdtm test of a CRIU checkout through dump/restore; pass/fail/skip per test";
  }
  void declare(CLI::App& verb) override {
    verb.add_option("--src", options_.src,
                    "CRIU checkout with built tests (test/zdtm/static), or a directory of zdtm-protocol programs")
        ->required();
    verb.add_option("--engine-cli", options_.engine_cli,
                    "checkpoint with this CRIU-compatible CLI (criu, flakelab); default: flakelab's library engine");
    verb.add_option("-n,--trials", options_.trials, "trials per test")->capture_default_str();
    verb.add_option("--only", options_.only, "run only the tests whose names match REGEX");
    verb.add_option("--db", options_.db, "SQLite database file")->capture_default_str();
    seed_opt_ = verb.add_option("--seed", seed_, "run seed (default: random, printed)");
    verb.add_option("-j,--jobs", options_.jobs, "tests running at once")->capture_default_str();
  }
  int execute(const Invocation& invocation) override {
    if (seed_opt_->count() > 0) options_.seed = seed_;
    options_.command_line = quote_command_line(invocation.argc, invocation.argv);
    return zdtm_suite_command(options_);
  }

 private:
  ZdtmSuiteOptions options_;
  uint64_t seed_ = 0;
  CLI::Option* seed_opt_ = nullptr;
};

}  // namespace

std::unique_ptr<Verb> make_zdtm_suite_verb() { return std::make_unique<ZdtmSuiteVerb>(); }

}  // namespace flakelab::harness
