// flakelab: the command-line entry point. Each verb is a class in harness/src/verbs/ (cpu,
// topo, scenarios, run, report, compare, merge, gate, bisect-verdict, and the engine's
// dump, restore, show), listed in all_verbs.inc; main declares them, parses, and maps the
// errors a verb throws to exit codes.
#include <fmt/core.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string_view>
#include <vector>

#include "flakelab/base/os_error.h"
#include "flakelab/harness/cli_verb.h"
#include "flakelab/harness/error.h"
#include "flakelab/results/store.h"

namespace flakelab::harness {
#define FLAKELAB_VERB(factory) std::unique_ptr<Verb> factory();
#include "src/verbs/all_verbs.inc"
#undef FLAKELAB_VERB
}  // namespace flakelab::harness

namespace {

using namespace flakelab::harness;

std::vector<std::unique_ptr<Verb>> all_verbs() {
  std::vector<std::unique_ptr<Verb>> verbs;
#define FLAKELAB_VERB(factory) verbs.push_back(factory());
#include "src/verbs/all_verbs.inc"
#undef FLAKELAB_VERB
  return verbs;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flakelab " FLAKELAB_VERSION
               ": replays flaky checkpoint/restore scenarios, pinned to chosen CPUs, and "
               "records every trial in SQLite"};
  app.set_version_flag("--version", FLAKELAB_VERSION);
  app.require_subcommand(1);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off (stderr)")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  // Each verb declares its options only when the command line uses it (add_verb, cli_verb.h).
  // The verbs outlive `app`'s parse: CLI11 holds pointers into them.
  const std::vector<std::unique_ptr<Verb>> verbs = all_verbs();
  std::vector<std::pair<CLI::App*, Verb*>> subcommands;
  for (const auto& verb : verbs) {
    Verb* v = verb.get();
    subcommands.emplace_back(add_verb(app, v->name(), v->description(), [v](CLI::App& sub) { v->declare(sub); }), v);
  }
  auto parsed_verb = [&]() -> Verb* {
    for (const auto& [sub, verb] : subcommands)
      if (sub->parsed()) return verb;
    return nullptr;
  };

  // The words after `--` are a command (`run cmd -- PROGRAM ARGS...`), not the verb's
  // positionals: CLI11 would give them to the top-level app, which takes none.
  int parsed_argc = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      parsed_argc = i;
      break;
    }
  }
  try {
    app.parse(parsed_argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    if (code == 0) return kExitOk;
    Verb* verb = parsed_verb();
    return verb ? verb->usage_exit_code() : kExitUsage;
  }

  auto logger = spdlog::stderr_color_st("flakelab");
  logger->set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));

  try {
    Verb* verb = parsed_verb();
    if (verb == nullptr) return print_failure(kExitUsage, "no verb given");
    Invocation invocation{argc, argv, {}, parsed_argc < argc};
    for (int i = parsed_argc + 1; i < argc; ++i) invocation.after_dashes.emplace_back(argv[i]);
    if (invocation.has_dashes && !verb->takes_command()) {
      return print_failure(kExitUsage, fmt::format("`flakelab {}` takes no command after `--`", verb->name()));
    }
    return verb->execute(invocation);
  } catch (const UsageError& e) {
    return print_failure(kExitUsage, e.what());
  } catch (const HarnessError& e) {
    return print_failure(kExitHarness, e.what());
  } catch (const flakelab::results::StoreError& e) {
    return print_failure(kExitHarness, fmt::format("results database: {}", e.what()));
  } catch (const flakelab::base::OsError& e) {
    // A system call of the base layer's owners (temp dirs, child processes): says what failed and why.
    return print_failure(kExitHarness, e.what());
  } catch (const std::exception& e) {
    return print_failure(kExitHarness, fmt::format("internal error: {}", e.what()));
  }
}
