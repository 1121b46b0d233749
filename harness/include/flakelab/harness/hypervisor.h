// Which hypervisor, if any, this CPU runs under: CPUID leaf 1 ECX bit 31 says one is
// present, leaf 0x40000000 EBX/ECX/EDX carry its 12-byte vendor signature. libcpuid 0.6.2
// knows few signatures (it reports bhyve guests as "yes" with no name), so we decode them.
#pragma once

#include <cstdint>
#include <string>

namespace flakelab::harness {

// The CPUID leaf 1 ECX bit that a hypervisor sets for its guests.
inline constexpr uint32_t kCpuidHypervisorPresentBit = 1u << 31;

// The hypervisor's name for the signature in leaf 0x40000000's EBX, ECX, EDX: "KVM",
// "bhyve", "Hyper-V", "VMware", "Xen", "QEMU (TCG)", ...; an unknown signature is returned
// as its printable text; "unknown" when the signature is empty or unprintable.
std::string hypervisor_from_signature(uint32_t ebx, uint32_t ecx, uint32_t edx);

// The name of the hypervisor this runs under (as above), or "" on bare metal, decided from
// leaf 1 ECX and, when the present bit is set, the signature.
std::string hypervisor_from_cpuid(uint32_t leaf1_ecx, uint32_t ebx, uint32_t ecx, uint32_t edx);

// Executes CPUID on this CPU: hypervisor_from_cpuid of the real registers.
std::string detect_hypervisor();

}  // namespace flakelab::harness
