// Progress of a run on stderr, like `go tool stress`: one plain status line every few
// seconds (5 by default) for the whole run, on a terminal or in a CI log alike.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "flakelab/harness/campaign_runner.h"

namespace flakelab::harness {

constexpr std::chrono::milliseconds kDefaultProgressInterval{5000};
// Tests shorten the interval with this environment variable (a duration, e.g. 500ms).
constexpr const char* kProgressIntervalEnv = "FLAKELAB_PROGRESS_INTERVAL";

// kDefaultProgressInterval, or $FLAKELAB_PROGRESS_INTERVAL when set. Throws UsageError
// naming the variable on a malformed or non-positive duration.
std::chrono::milliseconds progress_interval_from_env();

// "0:10 cells 3/51, 1200/10200 trials, 120 trials/s, 2 failed, 1 error, ETA 1:15"
std::string format_progress(const RunProgress& progress);

// Writes format_progress() and a newline to `out`, flushed at once.
void print_progress(std::FILE* out, const RunProgress& progress);

}  // namespace flakelab::harness
