// How a checkpoint/restore scenario checkpoints and restores a process: with flakelab's
// engine inside the trial process ("library"), or with an external CRIU-compatible
// command line ("cli"): `PATH dump -t PID -D DIR [--leave-running]` and
// `PATH restore -D DIR -d --pidfile F`. flakelab's own CLI is such an engine; so is criu.
// The choice is three scenario parameters (engine_params()), so it is part of every
// cell key, with the external engine's `--version` text.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "flakelab/scenarios/param_spec.h"

namespace spdlog {
class logger;
}

namespace flakelab::scenarios {

struct TrialContext;

struct EngineDump {
  pid_t pid = -1;
  std::string dir;                   // image directory, created if missing
  bool leave_running = false;
  std::vector<std::string> options;  // CRIU option words, e.g. "--ext-unix-sk" (a zdtm .desc's opts)
};

struct EngineRestore {
  std::string dir;
  std::vector<std::string> options;  // CRIU option words (a zdtm .desc's ropts)
  // flakelab's unix-gc-wait policy; unset: the engine's default. Only flakelab (library
  // or CLI) has it: another engine is not told (CRIU has no such policy).
  std::optional<std::chrono::microseconds> unix_gc_wait;
};

// The engine's own words: "dump: pid 12 ..." or, for a CLI, its error lines and exit status.
class EngineFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class CheckpointEngine {
 public:
  virtual ~CheckpointEngine() = default;
  // "library" or "cli /usr/sbin/criu (Version: 4.2 GitID: v4.2)".
  virtual std::string describe() const = 0;
  // Whether the engine is flakelab's (it knows --unix-gc-wait and needs no --shell-job).
  virtual bool is_flakelab() const = 0;
  // Throws EngineFailure. Without leave_running the dumped tree is gone afterwards.
  virtual void dump(const EngineDump& request) = 0;
  // Returns the restored root pid, running on its own: a child of the caller or, for a
  // CLI engine, of the caller as its child subreaper (set by the engine), so the caller
  // can wait for it. Throws EngineFailure.
  virtual pid_t restore(const EngineRestore& request) = 0;
};

// engine (library|cli), engine_cli (the CLI's path), engine_version (filled in by
// complete_engine_params from `engine_cli --version`).
std::vector<ParamSpec> engine_params();

// Checks the engine parameters of a scenario that declares them and completes them:
// engine=cli needs engine_cli (looked up in PATH, stored as an absolute path) and gets
// engine_version from its `--version`; engine=library takes neither. Throws
// std::invalid_argument with what is wrong.
void complete_engine_params(std::map<std::string, std::string>& params);

// The `--version` text of an engine CLI: its non-empty output lines joined by spaces,
// commas replaced (the text goes into "k=v,k=v" cell keys), at most 120 characters.
// Throws std::invalid_argument if it cannot be run or fails.
std::string engine_cli_version(const std::string& path);

// Whether an engine CLI is flakelab's own (its file name starts with "flakelab"): it has
// --unix-gc-wait and needs no --shell-job, and it has no `check --feature`.
bool is_flakelab_cli(const std::string& path);

// The engine a trial's parameters choose (the library engine logs to ctx.engine_log()).
std::unique_ptr<CheckpointEngine> make_engine(const TrialContext& ctx);
bool uses_engine_cli(const TrialContext& ctx);

std::unique_ptr<CheckpointEngine> make_library_engine(spdlog::logger* log);
// `output_dir` receives each call's output (engine-dump-N.log, engine-restore-N.log).
std::unique_ptr<CheckpointEngine> make_cli_engine(std::string path, std::string version, std::string output_dir);

}  // namespace flakelab::scenarios
