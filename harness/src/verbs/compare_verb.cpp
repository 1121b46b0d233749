// `flakelab compare RUN_A RUN_B`: two runs' cells side by side, with Fisher's exact test.
#include <CLI/CLI.hpp>
#include <memory>

#include "flakelab/harness/cli_verb.h"
#include "flakelab/harness/compare_command.h"
#include "flakelab/harness/integer_option.h"

namespace flakelab::harness {
namespace {

class CompareVerb final : public Verb {
 public:
  std::string name() const override { return "compare"; }
  std::string description() const override { return "two runs' cells side by side, with Fisher's exact test"; }
  void declare(CLI::App& verb) override {
    add_integer_option(verb, "run_a", request_.run_a, "run id (stands for every cell of its `flakelab run`)")->required();
    add_integer_option(verb, "run_b", request_.run_b, "run id to compare with")->required();
    verb.add_option("--db", request_.db_a, "SQLite database file")->capture_default_str();
    verb.add_option("--db-b", request_.db_b, "database of RUN_B (default: --db)");
  }
  int execute(const Invocation&) override { return compare_command(request_); }

 private:
  CompareRequest request_;
};

}  // namespace

std::unique_ptr<Verb> make_compare_verb() { return std::make_unique<CompareVerb>(); }

}  // namespace flakelab::harness
