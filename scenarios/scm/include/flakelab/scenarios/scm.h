// What the last scm* trial of this thread measured, beside its verdict (the
// scenario API carries only verdict and message): the benchmark reports the
// time the unix-gc-wait policy waited next to the trial's own time.
#pragma once

#include <chrono>

namespace flakelab::scenarios::scm {

struct TrialTimes {
  std::chrono::nanoseconds unix_gc_waited{0};   // RestoreStats::unix_gc_waited
  std::chrono::nanoseconds restore_delay{0};    // the restore_delay_us sleep
};

const TrialTimes& last_trial_times();

}  // namespace flakelab::scenarios::scm
