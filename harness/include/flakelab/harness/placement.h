// Which PU each role of a trial is pinned to: victim, injector, writer (the adjacent
// writer of compel/stack), plus the noise processes of --noise.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flakelab/harness/noise.h"
#include "flakelab/scenarios/scenario.h"

namespace flakelab::harness {

class Topology;

class Placement {
 public:
  static constexpr size_t kRoles = 3;

  // Parses `--cpus` "ROLE=CPU[,ROLE=CPU...]"; "" means unpinned. Throws UsageError.
  static Placement parse(std::string_view text);

  // Throws UsageError naming the first CPU that is not a usable PU of `topology`.
  void validate(const Topology& topology) const;

  std::optional<int> cpu_of(scenarios::Role role) const;
  void set(scenarios::Role role, int cpu);
  bool unpinned() const;

  const std::vector<NoiseThread>& noise() const { return noise_; }
  void add_noise(NoiseThread thread) { noise_.push_back(thread); }

  // Every PU this placement pins something to, ascending, without repeats.
  std::vector<int> cpus() const;

  // "victim=0,injector=1" in role order (victim, injector, writer), then
  // "noise=spin:2" per noise process; or "unpinned".
  std::string to_string() const;

 private:
  std::array<std::optional<int>, kRoles> cpus_{};
  std::vector<NoiseThread> noise_;
};

}  // namespace flakelab::harness
