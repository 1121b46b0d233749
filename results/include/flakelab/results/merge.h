// Combining results databases from many machines into one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace flakelab::results {

struct MergeStats {
  int64_t inputs = 0;
  int64_t hosts_added = 0;
  int64_t runs_added = 0;
  int64_t runs_already_present = 0;  // same run_uid already in the output
  int64_t trials_added = 0;
  int64_t trials_already_present = 0;
  int64_t failures_added = 0;
  int64_t signatures_added = 0;
};

// Merges `inputs` into `output_path` (created if missing, migrated if old; its existing
// contents are kept). Hosts are deduplicated by their identity columns, ids remapped, runs
// deduplicated by run_uid and trials by (run, index), so merging the same input twice adds
// nothing; signatures are unified by hash and their counts and first/last seen recomputed
// from the failures. Inputs are only read (an input with an older schema is migrated in a
// temporary copy). Each input is merged in one transaction. Throws StoreError (naming the
// file) for an unreadable input, a newer schema, or an input that is the output itself.
MergeStats merge(const std::string& output_path, const std::vector<std::string>& inputs);

}  // namespace flakelab::results
