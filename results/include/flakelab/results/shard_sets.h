// Shard sets: the runs of one campaign split over N machines (`flakelab run --shard I/N`),
// grouped so that a merged database can tell a complete set from one with missing shards.
//
// A set is identified by (campaign_hash, seed, shard_group, N): shards of one execution share
// the campaign, its seed and the count, and a group (e.g. a CI runner label) separates two
// executions of the same campaign on different runner kinds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flakelab/results/store.h"

namespace flakelab::results {

struct ShardSet {
  std::string campaign_hash;
  std::string seed;            // decimal, as stored
  std::string group;           // "" when the shards were run without --shard-group
  int count = 0;               // N
  std::vector<int> present;    // shard numbers 1..N with at least one run, ascending
  std::vector<int> missing;    // shard numbers 1..N without any run, ascending
  std::vector<int> duplicated; // shards recorded by more than one invocation (a re-run job)
  std::vector<int> unfinished; // shards with a run that never ended (the shard crashed)
  int64_t runs = 0;
  int64_t trials = 0;
  int64_t planned_trials = 0;  // sum of runs.planned_trials (where recorded)
  bool complete() const { return missing.empty() && unfinished.empty(); }
  // "campaign 0123abcd... seed 42 group ubuntu-24.04, 3 shards"
  std::string label() const;
};

// "I/N" -> {I, N}; false for anything else (0 < I <= N required).
bool parse_shard(const std::string& text, int& index, int& count);

// Every shard set in the store, ordered by campaign hash, seed, group, count.
std::vector<ShardSet> shard_sets(Store& store);

// One line per set: "complete" or what is missing/duplicated/unfinished.
std::string format_shard_sets(const std::vector<ShardSet>& sets);

}  // namespace flakelab::results
