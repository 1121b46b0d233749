// `flakelab dump -t PID -D DIR`: checkpoint a process tree (CRIU's flag names).
#include <CLI/CLI.hpp>
#include <memory>

#include "flakelab/harness/cli_verb.h"
#include "flakelab/harness/engine_commands.h"
#include "flakelab/harness/integer_option.h"

namespace flakelab::harness {
namespace {

class DumpVerb final : public Verb {
 public:
  std::string name() const override { return "dump"; }
  std::string description() const override {
    return "checkpoint a process into an image directory (kills it unless --leave-running)";
  }
  void declare(CLI::App& verb) override {
    add_integer_option(verb, "-t,--tree", command_.pid, "pid of the root of the process tree to dump (with all its descendants)")
        ->required();
    verb.add_option("-D,--images-dir", command_.dir, "image directory (created if missing)")->required();
    verb.add_flag("-R,--leave-running", command_.leave_running, "leave the process running after the dump");
    verb.add_flag("--ext-unix-sk", command_.ext_unix_sk,
                  "dump unix sockets connected outside the process; restore reconnects them by the peer's name");
    add_engine_log_options(verb, command_.log);
  }
  int execute(const Invocation&) override { return dump_command(command_); }

 private:
  DumpCommand command_;
};

}  // namespace

std::unique_ptr<Verb> make_dump_verb() { return std::make_unique<DumpVerb>(); }

}  // namespace flakelab::harness
