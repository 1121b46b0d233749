// Timing perturbation (`--jitter`): random delays at the named points a scenario
// declares (Scenario::jitter_points, TrialContext::jitter_point), drawn from the trial
// seed so that a replay delays exactly the same way.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "flakelab/scenarios/scenario.h"

namespace flakelab::harness {

struct JitterSpec {
  // Point name -> largest delay in microseconds; each visit of the point sleeps a
  // uniform 0..max.
  std::map<std::string, int64_t> max_us;
  bool empty() const { return max_us.empty(); }
  // "before_seize:500us;between_rpcs:500us" (sorted by point; "" if none): recorded as
  // the run parameter `jitter`.
  std::string canonical() const;
};

// `--jitter MAX` (every point of the scenario) or `--jitter POINT=MAX[,POINT=MAX...]`,
// MAX a duration (README, "Durations") such as 500us or 2ms, at most 10s. Throws UsageError naming the
// scenario's points when one is unknown, or when the scenario has none.
JitterSpec parse_jitter(std::string_view text, const scenarios::Scenario& scenario);

// The delays of one trial.
class Jitter {
 public:
  Jitter(const JitterSpec& spec, uint64_t trial_seed) : spec_(spec), seed_(trial_seed) {}
  // The delay of the next visit of `point`, in microseconds (0 for points without
  // jitter); counts the visit.
  int64_t next_delay_us(std::string_view point);
  // Sleeps next_delay_us(point).
  void at(std::string_view point);

 private:
  const JitterSpec& spec_;
  uint64_t seed_;
  std::map<std::string, uint64_t, std::less<>> visits_;
};

}  // namespace flakelab::harness
