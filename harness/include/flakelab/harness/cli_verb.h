// A CLI verb whose options are declared only when the command line uses it.
#pragma once

#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace flakelab::harness {

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
