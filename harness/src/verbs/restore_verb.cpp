// `flakelab restore -D DIR`: restore a process tree with its pids (CRIU's flag names).
#include <CLI/CLI.hpp>
#include <memory>

#include "flakelab/harness/cli_verb.h"
#include "flakelab/harness/engine_commands.h"

namespace flakelab::harness {
namespace {

class RestoreVerb final : public Verb {
 public:
  std::string name() const override { return "restore"; }
  std::string description() const override { return "restore a process from an image directory, with its pid"; }
  void declare(CLI::App& verb) override {
    verb.add_option("-D,--images-dir", command_.dir, "image directory")->required();
    verb.add_flag("-d,--restore-detached", command_.detached,
                  "return once the process runs on its own instead of waiting for it");
    verb.add_option("--pidfile", command_.pidfile, "write the restored pid to FILE");
    verb.add_option("--unix-gc-wait", command_.unix_gc_wait,
                    "retry binding a unix socket name still held by an orphaned socket (the unix garbage "
                    "collector) for up to DURATION (0 = off, e.g. 50ms, 2s; default 1s)");
    add_engine_log_options(verb, command_.log);
  }
  int execute(const Invocation&) override { return restore_command(command_); }

 private:
  RestoreCommand command_;
};

}  // namespace

std::unique_ptr<Verb> make_restore_verb() { return std::make_unique<RestoreVerb>(); }

}  // namespace flakelab::harness
