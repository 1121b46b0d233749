#include "flakelab/harness/cpu_identity.h"

#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <nlohmann/json.hpp>

namespace flakelab::harness {
namespace {

TEST(Microcode, IsTheFirstMicrocodeLine) {
  EXPECT_EQ(microcode_from_cpuinfo("processor\t: 0\nmicrocode\t: 0xa0011d1\n"
                                   "processor\t: 1\nmicrocode\t: 0xdeadbeef\n"),
            "0xa0011d1");
  EXPECT_EQ(microcode_from_cpuinfo("processor\t: 0\nmodel name\t: x\n"), "");
  EXPECT_EQ(microcode_from_cpuinfo(""), "");
}

TEST(CpuIdentity, ReadsThisMachine) {
  CpuIdentity cpu = detect_cpu_identity();
  EXPECT_TRUE(cpu.vendor == "GenuineIntel" || cpu.vendor == "AuthenticAMD" ||
              cpu.vendor == "HygonGenuine")
      << cpu.vendor;
  EXPECT_FALSE(cpu.brand.empty());
  EXPECT_EQ(cpu.brand, cpu.brand.substr(cpu.brand.find_first_not_of(' ')));
  // Extended family: at least 6 on every x86-64 CPU (Intel 6, AMD 0x17/0x19/0x1a).
  EXPECT_GE(cpu.family, 6);
  EXPECT_GE(cpu.logical_cpus, 1);
  utsname uts{};
  ASSERT_EQ(::uname(&uts), 0);
  EXPECT_EQ(cpu.kernel, uts.release);
  EXPECT_EQ(cpu.hostname, uts.nodename);

  results::HostInfo host = to_host_info(cpu);
  EXPECT_EQ(host.cpu_vendor, cpu.vendor);
  EXPECT_EQ(host.cpu_family, cpu.family);
  EXPECT_EQ(host.cpu_model, cpu.model);
  EXPECT_EQ(host.kernel, cpu.kernel);
  EXPECT_EQ(host.microcode, cpu.microcode);
}

TEST(CpuIdentity, TextAndJsonCarryTheSameFacts) {
  CpuIdentity cpu;
  cpu.vendor = "AuthenticAMD";
  cpu.brand = "AMD EPYC 7763 64-Core Processor";
  cpu.family = 25;
  cpu.model = 1;
  cpu.stepping = 1;
  cpu.codename = "Milan";
  cpu.cores = 64;
  cpu.logical_cpus = 128;
  cpu.hypervisor = true;
  cpu.hypervisor_vendor = "KVM";
  cpu.kernel = "6.18.0";
  cpu.machine = "x86_64";
  cpu.hostname = "runner";
  const std::string text = format_cpu_text(cpu);
  EXPECT_NE(text.find("family:       25 (0x19)"), std::string::npos) << text;
  EXPECT_NE(text.find("hypervisor:   yes (KVM)"), std::string::npos) << text;
  EXPECT_NE(text.find("microcode:    (not reported)"), std::string::npos) << text;
  auto json = nlohmann::json::parse(format_cpu_json(cpu));
  EXPECT_EQ(json["brand"], cpu.brand);
  EXPECT_EQ(json["family"], 25);
  EXPECT_EQ(json["model"], 1);
  EXPECT_EQ(json["hypervisor"], true);
  EXPECT_EQ(json["codename"], "Milan");
}

}  // namespace
}  // namespace flakelab::harness
