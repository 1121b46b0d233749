// Which kind of machine a run ran on, as reports print it: the hypervisor and how many
// logical CPUs the OS saw (hosts.hypervisor, hosts.vcpus; schema v6).
#pragma once

#include <string>

namespace flakelab::results {

// "KVM, 2 vCPUs", "bare metal, 64 CPUs"; "-" for hosts recorded before schema v6 (vcpus 0,
// no hypervisor), whose machine kind was not kept.
std::string describe_machine_kind(const std::string& hypervisor, int vcpus);

}  // namespace flakelab::results
