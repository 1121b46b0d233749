#include "flakelab/harness/report_command.h"

#include <fmt/core.h>
#include <sys/stat.h>

#include <algorithm>

#include "flakelab/harness/error.h"
#include "flakelab/results/report.h"

namespace flakelab::harness {

bool has_failures(const results::RunSummary& summary) {
  return summary.failures + summary.timeouts + summary.errors > 0;
}

int report_command(const std::string& db_path, std::optional<int64_t> run_id) {
  struct stat st {};
  if (::stat(db_path.c_str(), &st) != 0) throw os_error("open database " + db_path);
  results::Store store(db_path);
  std::vector<int64_t> ids = store.run_ids();
  if (run_id) {
    if (std::find(ids.begin(), ids.end(), *run_id) == ids.end()) {
      throw UsageError(fmt::format("no run {} in {} ({} runs recorded)", *run_id, db_path,
                                   ids.size()));
    }
    ids = {*run_id};
  }
  if (ids.empty()) {
    fmt::print("no runs recorded in {}\n", db_path);
    return kExitOk;
  }
  bool failed = false;
  for (size_t i = 0; i < ids.size(); ++i) {
    const results::RunSummary summary = store.summarize(ids[i]);
    fmt::print("{}{}", i == 0 ? "" : "\n", results::format_summary_text(summary));
    failed = failed || has_failures(summary);
  }
  return failed ? kExitTrialsFailed : kExitOk;
}

}  // namespace flakelab::harness
