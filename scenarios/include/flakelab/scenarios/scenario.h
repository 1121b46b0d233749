// A scenario is one replayable trial: it starts its own victim(s), does something to
// them (inject, checkpoint, ...) and decides from observed content whether the trial
// passed. The harness runs each trial in its own child process (and namespaces), so a
// scenario may fork freely; the harness kills and reaps whatever is left afterwards.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flakelab/scenarios/param_spec.h"

namespace spdlog {
class logger;
}

namespace flakelab::scenarios {

// Processes/threads a scenario can ask to be pinned. The harness maps roles to PUs.
enum class Role { kVictim, kInjector, kWriter };
const char* to_string(Role role);                   // "victim", "injector", "writer"
std::optional<Role> role_from_string(std::string_view text);

enum class Verdict { kPass, kFail, kError };

struct TrialResult {
  Verdict verdict = Verdict::kPass;
  std::string message;   // why it failed; empty on pass

  static TrialResult pass() { return {Verdict::kPass, {}}; }
  static TrialResult fail(std::string why) { return {Verdict::kFail, std::move(why)}; }
  static TrialResult error(std::string why) { return {Verdict::kError, std::move(why)}; }
};

// What a trial gets from the harness.
struct TrialContext {
  uint64_t seed = 0;                  // per-trial seed derived from the run seed
  int64_t index = 0;                  // trial index within the run
  std::map<std::string, std::string> params;   // every declared param, defaults applied

  // Pins the calling process (call it in a freshly forked child that plays `role`,
  // before it starts threads). No-op when the role is unpinned. Throws on failure.
  std::function<void(Role)> bind_self = [](Role) {};
  // Reads back the affinity of every thread of `pid` (waiting briefly for a freshly
  // forked child to pin itself), checks it against what was
  // asked for `role`, and records it for the trial row. Throws on a mismatch.
  std::function<void(Role, pid_t)> record_binding = [](Role, pid_t) {};
  // The PU the harness assigned to a role, if pinned (Linux CPU number).
  std::function<std::optional<int>(Role)> cpu_of = [](Role) { return std::optional<int>{}; };
  // A named point where the harness may add a random delay (`--jitter`): call it at
  // each point the scenario declares in jitter_points(), e.g. "before_seize". The
  // delay is drawn from the trial seed, so a replay delays the same way. No-op unless
  // the run asked for jitter at that point.
  std::function<void(std::string_view)> jitter_point = [](std::string_view) {};
  // The trial's private directory (also its working directory and $TMPDIR): images,
  // logs and victim output go here; the harness keeps or removes it afterwards
  // (`--keep-artifacts`). Empty when the scenario runs outside the harness.
  std::string temp_dir;
  // The trial's engine log, for DumpOptions::log and RestoreOptions::log: DIR/engine.log
  // in the trial's directory at -v4 (every step of every dump and restore with its
  // duration), made on the first call, written line by line so that a trial killed
  // at its timeout keeps what it logged, and kept with the trial's other artifacts.
  // Null outside the harness.
  std::function<spdlog::logger*()> engine_log = [] { return static_cast<spdlog::logger*>(nullptr); };
  // The run's --failure regexes (ECMAScript): a scenario quoting a program's output (cmd)
  // picks the line that matches as its message. Empty when none were given.
  std::vector<std::string> failure_patterns;
  // Records where something the scenario placed itself ran, e.g. ("command", "0+1") for
  // a command's threads: "command=0+1" in the trial row, after the roles.
  std::function<void(std::string_view key, std::string_view cpus)> record_cpus = [](std::string_view,
                                                                                    std::string_view) {};

  const std::string& param(const std::string& name) const;   // throws if undeclared
  bool param_is(const std::string& name, std::string_view value) const;
};

class Scenario {
 public:
  virtual ~Scenario() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  virtual std::vector<ParamSpec> params() const { return {}; }
  // The names run() passes to ctx.jitter_point(), for `--jitter` to validate and list.
  virtual std::vector<std::string> jitter_points() const { return {}; }
  // Why a cell with these parameters (every declared one, defaults applied) cannot run
  // here, e.g. a zdtm test whose .desc excludes the host flavor: the plan lists the cell
  // as skipped with this reason. Throws std::invalid_argument for parameters that make
  // no sense (a usage error).
  virtual std::optional<std::string> skip_reason(const std::map<std::string, std::string>& params) const {
    (void)params;
    return std::nullopt;
  }
  virtual TrialResult run(TrialContext& ctx) = 0;
};

// Every scenario built into flakelab, sorted by name.
const std::vector<std::unique_ptr<Scenario>>& registry();
Scenario* find_scenario(std::string_view name);

}  // namespace flakelab::scenarios
