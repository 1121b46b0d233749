#include "flakelab/harness/cli_verb.h"

#include <utility>

#include <CLI/CLI.hpp>

namespace flakelab::harness {

CLI::App* add_verb(CLI::App& app, std::string name, std::string description,
                   std::function<void(CLI::App& verb)> declare) {
  CLI::App* verb = app.add_subcommand(std::move(name), std::move(description));
  verb->preparse_callback([verb, declare = std::move(declare)](std::size_t) mutable {
    if (declare) std::exchange(declare, nullptr)(*verb);  // once, even if parsed again
  });
  return verb;
}

}  // namespace flakelab::harness
