// Which PU each role of a trial is pinned to (`--cpus victim=0,injector=1`).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "flakelab/scenarios/scenario.h"

namespace flakelab::harness {

class Topology;

class Placement {
 public:
  static constexpr size_t kRoles = 3;

  // Parses "ROLE=CPU[,ROLE=CPU...]"; "" means unpinned. Throws UsageError.
  static Placement parse(std::string_view text);

  // Throws UsageError naming the first CPU that is not a usable PU of `topology`.
  void validate(const Topology& topology) const;

  std::optional<int> cpu_of(scenarios::Role role) const;
  void set(scenarios::Role role, int cpu);
  bool unpinned() const;

  // "victim=0,injector=1" in role order (victim, injector, writer), or "unpinned".
  std::string to_string() const;

 private:
  std::array<std::optional<int>, kRoles> cpus_{};
};

}  // namespace flakelab::harness
