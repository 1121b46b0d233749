#include "flakelab/results/machine_kind.h"

#include <fmt/core.h>

namespace flakelab::results {

std::string describe_machine_kind(const std::string& hypervisor, int vcpus) {
  if (vcpus <= 0) return hypervisor.empty() ? "-" : hypervisor;
  if (hypervisor.empty()) return fmt::format("bare metal, {} CPU{}", vcpus, vcpus == 1 ? "" : "s");
  return fmt::format("{}, {} vCPU{}", hypervisor, vcpus, vcpus == 1 ? "" : "s");
}

}  // namespace flakelab::results
