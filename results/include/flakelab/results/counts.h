#pragma once
// Trial outcome counts of a run or a cell.

#include <cstdint>

namespace flakelab::results {

// "Failing" is fail or timeout; an error (the harness could not run the trial) is counted
// but is not part of a failure rate.
struct Counts {
  int64_t trials = 0;
  int64_t passes = 0;
  int64_t failures = 0;
  int64_t timeouts = 0;
  int64_t errors = 0;
  int64_t failing() const { return failures + timeouts; }
  void add(const Counts& other);
};

}  // namespace flakelab::results
