// `flakelab show -D DIR [--json]`: decode an image directory.
#include <CLI/CLI.hpp>
#include <memory>

#include "flakelab/harness/cli_verb.h"
#include "flakelab/harness/engine_commands.h"

namespace flakelab::harness {
namespace {

class ShowVerb final : public Verb {
 public:
  std::string name() const override { return "show"; }
  std::string description() const override { return "decode an image directory"; }
  void declare(CLI::App& verb) override {
    verb.add_option("-D,--images-dir", command_.dir, "image directory")->required();
    verb.add_flag("--json", command_.json, "print JSON");
  }
  int execute(const Invocation&) override { return show_command(command_); }

 private:
  ShowCommand command_;
};

}  // namespace

std::unique_ptr<Verb> make_show_verb() { return std::make_unique<ShowVerb>(); }

}  // namespace flakelab::harness
