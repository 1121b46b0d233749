// `flakelab run`: build the campaign from the command line or a campaign file, plan it
// on the topology, run it (or print the plan: --dry-run, --topology), summarize.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flakelab/harness/campaign.h"

namespace flakelab::harness {

// The command line of `flakelab run`; unset optionals take the campaign file's value,
// else the default.
struct RunOptions {
  std::vector<std::string> scenarios;
  std::string campaign;                       // --campaign FILE
  std::optional<int64_t> trials;              // -n, per cell
  std::string cpus;                           // --cpus ROLE=CPU,...
  std::optional<std::string> placement;       // --placement NAME[,NAME...]|all
  std::vector<std::string> params;            // "k=v" each, for every scenario given
  std::optional<std::string> db;
  std::optional<uint64_t> seed;
  std::optional<int> jobs;
  bool share_pus = false;
  std::optional<double> timeout_s;
  std::optional<std::string> max_time;
  std::optional<int64_t> until_failures;
  bool keep_hung = false;
  bool fresh_namespaces = false;
  std::optional<std::string> keep_artifacts;
  std::optional<std::string> artifacts_dir;
  std::vector<std::string> failure;           // --failure REGEX
  std::vector<std::string> ignore;            // --ignore REGEX
  std::optional<std::string> noise;
  std::optional<std::string> jitter;
  std::string topology;                       // --topology FILE|SYNTHETIC (implies a dry run)
  bool dry_run = false;
  std::optional<std::string> shard;           // --shard I/N (needs --campaign and a seed)
  std::string shard_group;                    // --shard-group NAME
  std::string command_line;                   // recorded with the runs
  std::vector<std::string> command;           // `run cmd -- PROGRAM ARGS...`: cmd's command
  bool spread = false;                        // --spread: cmd's threads over the placement's PUs
  std::optional<std::string> expect;          // --expect pass|flaky, for every cell
};

// The campaign the options describe. Throws UsageError.
CampaignSpec build_campaign_spec(const RunOptions& options);

// Returns kExitOk, kExitTrialsFailed (some cell not as expected) or 128+signal if
// interrupted. Throws UsageError before anything is written, HarnessError /
// results::StoreError after.
int run_command(const RunOptions& options);

// Shell-quoted join of argv, for the run record.
std::string quote_command_line(int argc, const char* const* argv);
// The words of a command line quote_command_line() wrote (single quotes, '\'' inside them,
// and backslash escapes outside). Throws UsageError on an unterminated quote.
std::vector<std::string> split_command_line(std::string_view text);

// The options of `flakelab run ARGS...` (`args` without "flakelab run"), as the run verb
// parses them; command_line is "flakelab run ARGS...". Throws UsageError. (Defined with
// the verb, in verbs/run_verb.cpp.)
RunOptions parse_run_arguments(const std::vector<std::string>& args);

// The same for a vector (cmd's `command` parameter).
std::string quote_command_line(const std::vector<std::string>& args);
// "pass" or "flaky". Throws UsageError naming `option`.
Expect expect_from_string(std::string_view text, std::string_view option);

}  // namespace flakelab::harness
