// What CPU and kernel this is: libcpuid's identification plus uname and /proc/cpuinfo.
// Stored with every run (results::HostInfo) and printed by `flakelab cpu`.
#pragma once

#include <string>

#include "flakelab/results/store.h"

namespace flakelab::harness {

struct CpuIdentity {
  std::string vendor;         // CPUID vendor string, e.g. "GenuineIntel"
  std::string brand;          // brand string, trimmed
  int family = 0;             // extended (display) family, e.g. 6 or 25
  int model = 0;              // extended (display) model, e.g. 167 or 1
  int stepping = 0;
  std::string codename;       // libcpuid's codename, may be "Unknown..."
  // flakelab's own table (microarchitecture.h), empty if it does not know the CPU.
  std::string table_codename;  // e.g. "Genoa / Storm Peak"
  std::string microarchitecture;  // e.g. "Zen 4"
  int cores = 0;              // physical cores per package, as CPUID reports them
  int logical_cpus = 0;       // logical CPUs per package, as CPUID reports them
  bool hypervisor = false;    // the CPUID hypervisor-present bit
  std::string hypervisor_vendor;  // e.g. "KVM"; empty when none or unknown
  std::string kernel;         // uname -r
  std::string machine;        // uname -m
  std::string hostname;
  std::string microcode;      // "microcode" line of /proc/cpuinfo; empty if absent
  std::string smt;            // "on", "off", "off (not supported)", ... from /sys/devices/system/cpu/smt
};

// Fills table_codename and microarchitecture from vendor/family/model.
void apply_microarchitecture_table(CpuIdentity& cpu);

// SMT state from /sys/devices/system/cpu/smt/{control,active} contents ("" if unreadable):
// "on", "off", "off (disabled)", "off (not supported)", "unknown".
std::string describe_smt(const std::string& control, const std::string& active);

// Reads the identity of the CPU this runs on. Throws HarnessError if CPUID fails.
CpuIdentity detect_cpu_identity();

// The microcode revision in the text of /proc/cpuinfo (first "microcode" line), or "".
std::string microcode_from_cpuinfo(const std::string& cpuinfo_text);

results::HostInfo to_host_info(const CpuIdentity& cpu);

std::string format_cpu_text(const CpuIdentity& cpu);
std::string format_cpu_json(const CpuIdentity& cpu);

}  // namespace flakelab::harness
