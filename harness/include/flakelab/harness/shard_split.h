// How `flakelab run --shard I/N` splits a campaign: every cell's trial indices 0..T-1 are
// cut into N contiguous ranges of nearly equal size, and shard I takes range
// (I - 1 + ordinal) mod N of the cell with that ordinal (its position among all the
// campaign's cells, offered on this machine or not). So
//   - the split depends only on the campaign file (and its overrides), never on the
//     machine: a shard on a runner with SMT and one without agree on who runs what;
//   - every shard gets a share of every cell with at least N trials (runner time evens out
//     across slow and fast scenarios), and cells with fewer trials than shards are spread
//     over the shards by the rotation;
//   - trial indices, and so per-trial seeds, are those of an unsharded run: the shards
//     together run exactly the unsharded run's trials.
#pragma once

#include <cstdint>
#include <string>

namespace flakelab::harness {

struct TrialRange {
  int64_t first = 0;
  int64_t count = 0;
};

// Shard `index` (1-based) of `count`: its trials of a cell with `trials` trials.
TrialRange shard_range(int64_t trials, int ordinal, int index, int count);

// "I/N" -> index, count. Throws UsageError naming `option` for anything else.
void parse_shard_option(const std::string& text, const char* option, int& index, int& count);

}  // namespace flakelab::harness
