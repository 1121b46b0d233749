#include "flakelab/harness/hypervisor.h"

#include <cpuid.h>

#include <cstring>
#include <string_view>

namespace flakelab::harness {
namespace {

constexpr uint32_t kHypervisorLeaf = 0x40000000;

struct Signature {
  std::string_view signature;  // as the 12 bytes read, trailing NULs dropped
  const char* name;
};

// Signatures as the hypervisors publish them (Linux arch/x86/kernel/cpu/hypervisor.c and
// the vendors' documentation).
constexpr Signature kSignatures[] = {
    {"KVMKVMKVM", "KVM"},
    {"Linux KVM Hv", "KVM (Hyper-V enlightenments)"},
    {"bhyve bhyve ", "bhyve"},
    {"BHyVE BHyVE ", "bhyve"},
    {"Microsoft Hv", "Hyper-V"},
    {"VMwareVMware", "VMware"},
    {"XenVMMXenVMM", "Xen"},
    {"TCGTCGTCGTCG", "QEMU (TCG)"},
    {"ACRNACRNACRN", "ACRN"},
    {"prl hyperv  ", "Parallels"},
    {" lrpepyh  vr", "Parallels"},
    {"VBoxVBoxVBox", "VirtualBox"},
    {"QNXQVMBSQG", "QNX"},
    {"Jailhouse", "Jailhouse"},
    {"HAXMHAXMHAXM", "Intel HAXM"},
    {"UnisysSpar64", "Unisys s-Par"},
};

}  // namespace

std::string hypervisor_from_signature(uint32_t ebx, uint32_t ecx, uint32_t edx) {
  char bytes[12];
  std::memcpy(bytes, &ebx, 4);
  std::memcpy(bytes + 4, &ecx, 4);
  std::memcpy(bytes + 8, &edx, 4);
  std::string_view text(bytes, sizeof bytes);
  while (!text.empty() && text.back() == '\0') text.remove_suffix(1);
  for (const Signature& known : kSignatures) {
    if (text == known.signature) return known.name;
  }
  std::string printable;
  for (char c : text) {
    if (c < 0x20 || c > 0x7e) return "unknown";  // garbage is not a name
    printable += c;
  }
  const size_t last = printable.find_last_not_of(' ');
  if (last == std::string::npos) return "unknown";
  printable.erase(last + 1);
  return printable.substr(printable.find_first_not_of(' '));
}

std::string hypervisor_from_cpuid(uint32_t leaf1_ecx, uint32_t ebx, uint32_t ecx, uint32_t edx) {
  if ((leaf1_ecx & kCpuidHypervisorPresentBit) == 0) return {};
  return hypervisor_from_signature(ebx, ecx, edx);
}

std::string detect_hypervisor() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return {};
  const uint32_t leaf1_ecx = ecx;
  if ((leaf1_ecx & kCpuidHypervisorPresentBit) == 0) return {};
  // __get_cpuid would refuse 0x40000000 (it checks the basic/extended maximum), so use
  // __cpuid: a guest always answers the hypervisor leaf.
  __cpuid(kHypervisorLeaf, eax, ebx, ecx, edx);
  return hypervisor_from_cpuid(leaf1_ecx, ebx, ecx, edx);
}

}  // namespace flakelab::harness
