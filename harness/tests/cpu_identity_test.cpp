#include "flakelab/harness/cpu_identity.h"
#include "flakelab/harness/microarchitecture.h"

#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <unistd.h>

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
  // The OS's view (hwloc), not CPUID's per-package counts: right on a VM too.
  EXPECT_EQ(cpu.logical_cpus, sysconf(_SC_NPROCESSORS_ONLN));
  EXPECT_GE(cpu.cores, 1);
  EXPECT_LE(cpu.cores, cpu.logical_cpus);
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
  EXPECT_EQ(host.cpu_codename, cpu.codename);
  EXPECT_EQ(host.hypervisor, cpu.hypervisor);
  EXPECT_EQ(host.vcpus, cpu.logical_cpus);
}

TEST(CpuIdentity, TextAndJsonCarryTheSameFacts) {
  CpuIdentity cpu;
  cpu.vendor = "AuthenticAMD";
  cpu.brand = "AMD EPYC 7763 64-Core Processor";
  cpu.family = 25;
  cpu.model = 1;
  cpu.stepping = 1;
  cpu.libcpuid_codename = "Milan";
  apply_microarchitecture_table(cpu);
  cpu.packages = 1;
  cpu.cores = 2;
  cpu.logical_cpus = 4;
  cpu.hypervisor = "KVM";
  cpu.kernel = "6.18.0";
  cpu.machine = "x86_64";
  cpu.hostname = "runner";
  const std::string text = format_cpu_text(cpu);
  EXPECT_NE(text.find("family:       25 (0x19)"), std::string::npos) << text;
  EXPECT_NE(text.find("hypervisor:   KVM\n"), std::string::npos) << text;
  EXPECT_NE(text.find("codename:     Milan / Chagall (Zen 3, flakelab's table)"), std::string::npos) << text;
  EXPECT_NE(text.find("libcpuid:     Milan (libcpuid's codename"), std::string::npos) << text;
  EXPECT_NE(text.find("cores:        2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("logical CPUs: 4 (online"), std::string::npos) << text;
  EXPECT_NE(text.find("microcode:    (not reported)"), std::string::npos) << text;
  auto json = nlohmann::json::parse(format_cpu_json(cpu));
  EXPECT_EQ(json["brand"], cpu.brand);
  EXPECT_EQ(json["family"], 25);
  EXPECT_EQ(json["model"], 1);
  EXPECT_EQ(json["hypervisor"], "KVM");
  EXPECT_EQ(json["codename"], "Milan / Chagall");
  EXPECT_EQ(json["codename_source"], "flakelab's table");
  EXPECT_EQ(json["libcpuid_codename"], "Milan");
  EXPECT_EQ(json["logical_cpus"], 4);

  cpu.hypervisor.clear();
  EXPECT_NE(format_cpu_text(cpu).find("hypervisor:   none\n"), std::string::npos) << "bare metal";
}

// The table's codename wins; libcpuid's is the fallback, and says it is libcpuid's.
TEST(CpuIdentity, TableCodenameComesBeforeLibcpuids) {
  CpuIdentity zen5;
  zen5.vendor = "AuthenticAMD";
  zen5.family = 0x1a;
  zen5.model = 0x02;
  zen5.libcpuid_codename = "Abu Dhabi";  // what libcpuid 0.6.2 calls a Turin guest's CPU
  apply_microarchitecture_table(zen5);
  EXPECT_EQ(zen5.codename, "Turin");
  EXPECT_EQ(zen5.codename_source, kCodenameFromTable);
  EXPECT_EQ(to_host_info(zen5).cpu_codename, "Turin");
  const std::string text = format_cpu_text(zen5);
  EXPECT_NE(text.find("codename:     Turin (Zen 5, flakelab's table)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("libcpuid:     Abu Dhabi (libcpuid's codename, for reference)\n"), std::string::npos)
      << text;

  CpuIdentity old;
  old.vendor = "AuthenticAMD";
  old.family = 0x15;
  old.model = 0x01;
  old.libcpuid_codename = "Bulldozer";
  apply_microarchitecture_table(old);
  EXPECT_EQ(old.codename, "Bulldozer");
  EXPECT_EQ(old.codename_source, kCodenameFromLibcpuid);
  EXPECT_NE(format_cpu_text(old).find("codename:     Bulldozer (libcpuid's guess; not in flakelab's table)"),
            std::string::npos)
      << format_cpu_text(old);
  EXPECT_EQ(format_cpu_text(old).find("libcpuid:  "), std::string::npos) << "said once is enough";
}

// flakelab's own table on synthetic identities: what libcpuid 0.6.2 gets wrong or lacks.
TEST(Microarchitecture, TableKnowsRecentAmdAndIntelParts) {
  struct Case {
    const char* vendor;
    int family, model;
    const char* codename;
    const char* uarch;
  } cases[] = {
      {"AuthenticAMD", 0x19, 0x01, "Milan / Chagall", "Zen 3"},
      {"AuthenticAMD", 0x19, 0x11, "Genoa / Storm Peak", "Zen 4"},  // libcpuid says "EPYC (Milan)"
      {"AuthenticAMD", 0x19, 0xa0, "Bergamo / Siena", "Zen 4c"},
      {"AuthenticAMD", 0x19, 0x61, "Raphael", "Zen 4"},
      {"AuthenticAMD", 0x19, 0x21, "Vermeer", "Zen 3"},
      {"AuthenticAMD", 0x17, 0x31, "Rome / Castle Peak", "Zen 2"},  // the EPYC 7763's predecessor
      {"AuthenticAMD", 0x1a, 0x02, "Turin", "Zen 5"},
      {"AuthenticAMD", 0x1a, 0x11, "Turin Dense", "Zen 5c"},
      {"AuthenticAMD", 0x1a, 0x44, "Granite Ridge", "Zen 5"},
      {"GenuineIntel", 6, 0xa7, "Rocket Lake", "Cypress Cove"},  // this project's VM
      {"GenuineIntel", 6, 0x8f, "Sapphire Rapids", "Golden Cove"},
      {"GenuineIntel", 6, 0xcf, "Emerald Rapids", "Raptor Cove"},
      {"GenuineIntel", 6, 0xad, "Granite Rapids-X", "Redwood Cove"},
      {"GenuineIntel", 6, 0x55, "Skylake-SP / Cascade Lake / Cooper Lake", "Skylake"},
  };
  for (const Case& c : cases) {
    CpuIdentity cpu;
    cpu.vendor = c.vendor;
    cpu.family = c.family;
    cpu.model = c.model;
    apply_microarchitecture_table(cpu);
    EXPECT_EQ(cpu.table_codename, c.codename) << c.vendor << " " << c.family << " " << c.model;
    EXPECT_EQ(cpu.microarchitecture, c.uarch) << c.vendor << " " << c.family << " " << c.model;
  }
  // Milan and Genoa share a family: the model range decides.
  EXPECT_NE(lookup_microarchitecture("AuthenticAMD", 0x19, 0x0f)->uarch,
            lookup_microarchitecture("AuthenticAMD", 0x19, 0x10)->uarch);
  EXPECT_FALSE(lookup_microarchitecture("GenuineIntel", 6, 0x02).has_value());
  EXPECT_FALSE(lookup_microarchitecture("AuthenticAMD", 6, 0xa7).has_value()) << "vendor is part of the key";
  EXPECT_FALSE(lookup_microarchitecture("HygonGenuine", 0x18, 0x00).has_value());
}

TEST(Microarchitecture, ThisMachineIsDescribed) {
  const CpuIdentity cpu = detect_cpu_identity();
  const std::string text = format_cpu_text(cpu);
  EXPECT_NE(text.find("codename:"), std::string::npos) << text;
  EXPECT_NE(text.find("SMT:"), std::string::npos) << text;
  if (cpu.vendor == "GenuineIntel" && cpu.family == 6 && cpu.model == 0xa7) {
    EXPECT_EQ(cpu.table_codename, "Rocket Lake");
  }
  if (cpu.vendor == "AuthenticAMD" && cpu.family == 25 && cpu.model == 17) {
    EXPECT_EQ(cpu.codename, "Genoa / Storm Peak");  // libcpuid says "EPYC (Milan)"
  }
}

TEST(Microarchitecture, SmtStateFromSysfs) {
  EXPECT_EQ(describe_smt("on\n", "1\n"), "on");
  EXPECT_EQ(describe_smt("on\n", "0\n"), "off");
  EXPECT_EQ(describe_smt("off\n", "0\n"), "off (disabled)");
  EXPECT_EQ(describe_smt("forceoff\n", "0\n"), "off (disabled)");
  EXPECT_EQ(describe_smt("notsupported\n", "0\n"), "off (not supported)");
  EXPECT_EQ(describe_smt("", ""), "unknown");
}

}  // namespace
}  // namespace flakelab::harness
