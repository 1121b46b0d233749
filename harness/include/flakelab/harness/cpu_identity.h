// What CPU, machine and kernel this is: CPUID (libcpuid and flakelab's table) for the part,
// hwloc for what the OS sees (on a VM: the guest's vCPUs), CPUID leaf 0x40000000 for the
// hypervisor, uname and /proc/cpuinfo for the rest. Stored with every run
// (results::HostInfo) and printed by `flakelab cpu`.
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
  // The codename shown and stored: flakelab's table's when it knows the CPU, else
  // libcpuid's (see choose_codename); codename_source says which.
  std::string codename;
  std::string codename_source;    // kCodenameFromTable or kCodenameFromLibcpuid
  std::string libcpuid_codename;  // libcpuid's guess, may be wrong ("Abu Dhabi" for Zen 5)
  // flakelab's own table (microarchitecture.h), empty if it does not know the CPU.
  std::string table_codename;  // e.g. "Genoa / Storm Peak"
  std::string microarchitecture;  // e.g. "Zen 4"
  // What the OS sees (hwloc, every online PU): on a VM, the guest's, not the host part's.
  int packages = 0;
  int cores = 0;
  int logical_cpus = 0;       // online PUs, = sysconf(_SC_NPROCESSORS_ONLN)
  int numa_nodes = 0;
  int l3_domains = 0;
  std::string hypervisor;     // "KVM", "bhyve", ... (hypervisor.h); "" on bare metal
  std::string kernel;         // uname -r
  std::string machine;        // uname -m
  std::string hostname;
  std::string microcode;      // "microcode" line of /proc/cpuinfo; empty if absent
  std::string smt;            // "on", "off", "off (not supported)", ... from /sys/devices/system/cpu/smt
};

inline constexpr const char* kCodenameFromTable = "flakelab's table";
inline constexpr const char* kCodenameFromLibcpuid = "libcpuid";

// Fills table_codename and microarchitecture from vendor/family/model, then choose_codename.
void apply_microarchitecture_table(CpuIdentity& cpu);

// Sets codename and codename_source: the table's codename when there is one (libcpuid
// 0.6.2 misnames recent parts), else libcpuid's.
void choose_codename(CpuIdentity& cpu);

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
