#include "flakelab/harness/hypervisor.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace flakelab::harness {
namespace {

// EBX, ECX, EDX of leaf 0x40000000 as the CPU returns them for a 12-byte signature.
struct Registers {
  uint32_t ebx = 0, ecx = 0, edx = 0;
};
Registers registers_of(const char* signature) {
  char bytes[12] = {};
  std::memcpy(bytes, signature, std::min<size_t>(std::strlen(signature), sizeof bytes));
  Registers r;
  std::memcpy(&r.ebx, bytes, 4);
  std::memcpy(&r.ecx, bytes + 4, 4);
  std::memcpy(&r.edx, bytes + 8, 4);
  return r;
}

std::string decode(const char* signature) {
  const Registers r = registers_of(signature);
  return hypervisor_from_signature(r.ebx, r.ecx, r.edx);
}

TEST(Hypervisor, KnownSignaturesAreNamed) {
  EXPECT_EQ(decode("KVMKVMKVM"), "KVM");  // padded with NULs
  EXPECT_EQ(decode("bhyve bhyve "), "bhyve");
  EXPECT_EQ(decode("Microsoft Hv"), "Hyper-V");
  EXPECT_EQ(decode("VMwareVMware"), "VMware");
  EXPECT_EQ(decode("XenVMMXenVMM"), "Xen");
  EXPECT_EQ(decode("TCGTCGTCGTCG"), "QEMU (TCG)");
  EXPECT_EQ(decode("ACRNACRNACRN"), "ACRN");
  EXPECT_EQ(decode("Linux KVM Hv"), "KVM (Hyper-V enlightenments)");
}

TEST(Hypervisor, RawRegisterValuesDecode) {
  // What a KVM guest's CPUID returns: EBX 0x4b4d564b "KVMK", ECX 0x564b4d56 "VMKV", EDX 0x4d "M".
  EXPECT_EQ(hypervisor_from_signature(0x4b4d564b, 0x564b4d56, 0x0000004d), "KVM");
  // bhyve: "bhyv" "e bh" "yve ".
  EXPECT_EQ(hypervisor_from_signature(0x76796862, 0x68622065, 0x20657679), "bhyve");
}

TEST(Hypervisor, UnknownSignaturesKeepTheirText) {
  EXPECT_EQ(decode("NewVisor  "), "NewVisor");
  EXPECT_EQ(decode(""), "unknown");
  EXPECT_EQ(decode("            "), "unknown");
  EXPECT_EQ(hypervisor_from_signature(0x01020304, 0, 0), "unknown") << "control bytes are not a name";
}

TEST(Hypervisor, ThePresentBitDecides) {
  const Registers kvm = registers_of("KVMKVMKVM");
  EXPECT_EQ(hypervisor_from_cpuid(kCpuidHypervisorPresentBit | 0x1234, kvm.ebx, kvm.ecx, kvm.edx), "KVM");
  EXPECT_EQ(hypervisor_from_cpuid(0x7ffefbff, kvm.ebx, kvm.ecx, kvm.edx), "") << "bare metal: no bit 31";
  EXPECT_EQ(hypervisor_from_cpuid(kCpuidHypervisorPresentBit, 0, 0, 0), "unknown");
}

// The kernel's view of the same bit: the "hypervisor" flag in /proc/cpuinfo.
TEST(Hypervisor, ThisMachineAgreesWithProcCpuinfo) {
  std::ifstream in("/proc/cpuinfo");
  ASSERT_TRUE(in) << "cannot read /proc/cpuinfo";
  std::string line;
  bool flag = false;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) {
      flag = (line + " ").find(" hypervisor ") != std::string::npos;
      break;
    }
  }
  const std::string name = detect_hypervisor();
  if (flag) {
    EXPECT_FALSE(name.empty());
  } else {
    EXPECT_EQ(name, "");
  }
}

}  // namespace
}  // namespace flakelab::harness
