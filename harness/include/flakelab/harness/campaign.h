// A campaign: what `flakelab run` (command line or `--campaign FILE`) asks for, and its
// plan on a topology: cells of scenario x parameter values x placement, each with its
// trial count, or skipped with the reason.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "flakelab/harness/jitter.h"
#include "flakelab/harness/placement_plan.h"
#include "flakelab/scenarios/scenario.h"

namespace flakelab::harness {

class Topology;

// What a cell is expected to do; decides the exit status.
enum class Expect {
  kPass,   // every trial passes
  kFlaky,  // failures are expected (reported, not fatal); timeouts and errors are not
};
const char* to_string(Expect expect);

enum class KeepArtifacts { kNever, kFailed, kAlways };
const char* to_string(KeepArtifacts keep);
KeepArtifacts keep_artifacts_from_string(std::string_view text);  // throws UsageError

// One scenario entry: its parameter values (several values per name make a grid) and
// placements. Every combination is a cell.
struct EntrySpec {
  std::string scenario;
  std::vector<std::pair<std::string, std::vector<std::string>>> params;  // name -> values
  std::string placements = "unpinned";  // "same-pu,random", "all"; ignored when cpus is set
  std::string cpus;                     // explicit --cpus ROLE=CPU,... (placement "cpus")
  std::string noise;                    // --noise KIND@WHERE,...
  std::string jitter;                   // --jitter MAX | POINT=MAX,...
  int64_t trials = 100;
  std::optional<int64_t> until_failures;
  Expect expect = Expect::kPass;
  std::optional<double> timeout_s;      // campaign's timeout if unset
  std::string where;                    // "campaign.toml:12:1" for messages; "" on the command line
};

struct CampaignSpec {
  std::vector<EntrySpec> entries;
  std::string db = "flakelab.db";
  std::optional<uint64_t> seed;         // random if unset
  int jobs = 1;
  bool share_pus = false;
  double timeout_s = 10;
  std::optional<double> max_time_s;     // the whole campaign's wall-time budget
  KeepArtifacts keep_artifacts = KeepArtifacts::kFailed;
  std::string artifacts_dir;            // "" = flakelab-artifacts beside the database
  bool keep_hung = false;
  // A new trial host (pid/mount/net namespaces) for every trial instead of one per worker
  // and cell, cleaned between trials (trial_host.h).
  bool fresh_namespaces = false;
  std::vector<std::string> failure_regexes;  // a fail matching none of them is an error
  std::vector<std::string> ignore_regexes;   // a non-pass matching one is recorded as pass
  std::string topology;                 // --topology FILE|SYNTHETIC; "" = this machine
  std::string command_line;             // recorded with every run
  std::string campaign_text;            // the campaign file's text, hashed into the runs
  std::string campaign_overrides;       // command-line options that change its cells, hashed too
  // --shard I/N: run only this shard's share of every cell (see shard_split.h); 0 = unsharded.
  int shard_index = 0;
  int shard_count = 0;
  std::string shard_group;              // --shard-group: which sharded execution (e.g. a runner label)
};

struct PlannedCell {
  int entry = 0;                        // index into CampaignSpec::entries
  int ordinal = 0;                      // position among all cells, offered or not (shards split by it)
  scenarios::Scenario* scenario = nullptr;
  std::map<std::string, std::string> params;  // every declared param
  std::string params_text;              // canonical "k=v,..." plus ",jitter=..." if any
  JitterSpec jitter;
  PlacementPlan placement;
  int64_t trials = 0;                   // this run's trials: indices first_index .. first_index+trials-1
  int64_t first_index = 0;              // > 0 only for a shard's share of a cell
  int64_t cell_trials = 0;              // the whole cell's trials (= trials unless sharded)
  std::optional<int64_t> until_failures;
  Expect expect = Expect::kPass;
  double timeout_s = 10;
  // "compel/stack  same-pu  adjacent_writer=on,check=legacy,..."
  std::string label() const;
};

struct CampaignPlan {
  CampaignSpec spec;
  std::vector<PlannedCell> cells;       // offered: these run, in this order
  std::vector<PlannedCell> skipped;     // placement not offered here (see placement.skip_reason)
  uint64_t seed = 0;
  bool simulated = false;               // planned on another machine's topology: a dry run only
  std::string topology_source;
  std::string campaign_hash;            // 16 hex digits of the campaign file (+ overrides), "" without one
  std::string shard;                    // "2/3" for --shard, else ""
  std::vector<std::regex> failure;
  std::vector<std::regex> ignore;
  int64_t total_trials() const;         // upper bound (until-failures and max-time may stop early)
};

// Validates and expands `spec` on `topology`. Throws UsageError (unknown scenario or
// parameter, bad value, bad regex, a placement named explicitly that this machine cannot
// offer, nothing left to run...) before anything is written.
CampaignPlan plan_campaign(const CampaignSpec& spec, const Topology& topology);

// The plan as `--dry-run` prints it: one line per cell with the PUs each worker uses,
// then the skipped cells with their reasons; marked SIMULATED on a foreign topology.
std::string format_plan(const CampaignPlan& plan);

}  // namespace flakelab::harness

