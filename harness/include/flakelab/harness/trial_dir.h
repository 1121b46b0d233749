// Private directories of trials: each trial works in its own directory under a run-wide
// temporary root; afterwards it is kept under the artifacts directory (--keep-artifacts)
// or removed. The root (RunTempRoot) goes away with its run; a killed run's is removed
// by the next run, so no temp dir outlives a run for long.
#pragma once

#include <string>

namespace flakelab::harness {

// Creates `dir` (mode 0700). Throws HarnessError.
void make_dir(const std::string& dir);
// Removes `dir` and everything under it; a missing dir is fine. Throws HarnessError.
void remove_tree(const std::string& dir);
// Moves the directory `from` to `to` (creating `to`'s parents): rename, or copy and
// remove across file systems. Throws HarnessError.
void move_tree(const std::string& from, const std::string& to);
// The failure's log excerpt for the database: the last lines (at most 2 KiB each) of
// the trial's output.log and engine.log in `dir`, under "== FILE ==" headers; files
// missing or empty are left out. "" if there is nothing.
std::string log_excerpt(const std::string& dir);

}  // namespace flakelab::harness
