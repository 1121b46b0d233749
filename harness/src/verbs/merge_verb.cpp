// `flakelab merge -o ALL.db A.db B.db ...`: results databases from many machines in one.
#include <CLI/CLI.hpp>
#include <memory>
#include <vector>

#include "flakelab/harness/cli_verb.h"
#include "flakelab/harness/report_command.h"

namespace flakelab::harness {
namespace {

class MergeVerb final : public Verb {
 public:
  std::string name() const override { return "merge"; }
  std::string description() const override { return "combine results databases from many machines into one"; }
  void declare(CLI::App& verb) override {
    verb.add_option("-o,--output", output_, "output database (created or extended)")->required();
    verb.add_option("inputs", inputs_, "input databases")->required();
    verb.add_flag("--require-complete", require_complete_, "exit 1 when a sharded campaign misses shards");
  }
  int execute(const Invocation&) override { return merge_command(output_, inputs_, require_complete_); }

 private:
  std::string output_;
  std::vector<std::string> inputs_;
  bool require_complete_ = false;
};

}  // namespace

std::unique_ptr<Verb> make_merge_verb() { return std::make_unique<MergeVerb>(); }

}  // namespace flakelab::harness
