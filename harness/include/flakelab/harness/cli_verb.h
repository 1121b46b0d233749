// A `flakelab` verb (run, report, dump, ...): one class per verb in harness/src/verbs/,
// listed in harness/src/verbs/all_verbs.inc, whose options are declared only when the
// command line uses it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "flakelab/harness/error.h"

namespace CLI {
class App;
}

namespace flakelab::harness {

// The command line as main() got it (run and bisect-verdict record it).
struct Invocation {
  int argc = 0;
  char** argv = nullptr;
  // The words after the first `--`, which main() keeps from CLI11 (which would hand them
  // to the top-level app): `flakelab run cmd -- PROGRAM ARGS...`.
  std::vector<std::string> after_dashes;
  bool has_dashes = false;
};

class Verb {
 public:
  virtual ~Verb() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  // Adds the verb's options and positionals to its subcommand; called (once) only when
  // the command line names this verb (add_verb below), so its members bound to options
  // hold values only after the verb was parsed.
  virtual void declare(CLI::App& verb) = 0;
  // Runs the parsed verb and returns the process exit status. UsageError (2),
  // HarnessError (3), StoreError (3) and other exceptions (3) escape to main(), which
  // prints them.
  virtual int execute(const Invocation& invocation) = 0;
  // The exit status for a command line CLI11 refuses (bisect-verdict: kBisectAbort, so
  // that `git bisect run` stops instead of calling the commit bad).
  virtual int usage_exit_code() const { return kExitUsage; }
  // Whether the verb takes a command after `--` (Invocation::after_dashes).
  virtual bool takes_command() const { return false; }
};

// Adds the subcommand `name` to `app` and calls `declare` to add its options and
// positionals when CLI11 meets the verb on the command line (its pre-parse callback, run
// before the verb's arguments are parsed), so a start builds the options of the one verb
// it runs rather than those of every verb (building them all cost ~0.15 ms of each start).
// Nothing visible changes: `flakelab --help` lists verbs by name and description only, and
// a verb's own help and errors come after its options exist. Options `declare` adds
// belong to the verb only once it was met; check the verb (`*verb`) before using them.
CLI::App* add_verb(CLI::App& app, std::string name, std::string description,
                   std::function<void(CLI::App& verb)> declare);

}  // namespace flakelab::harness
