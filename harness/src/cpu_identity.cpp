#include "flakelab/harness/cpu_identity.h"

#include <fmt/core.h>
#include <libcpuid/libcpuid.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "flakelab/harness/error.h"
#include "flakelab/harness/hypervisor.h"
#include "flakelab/harness/microarchitecture.h"
#include "flakelab/harness/os_cpu_counts.h"

namespace flakelab::harness {
namespace {

std::string trim(std::string s) {
  const char* ws = " \t\n\r";
  size_t begin = s.find_first_not_of(ws);
  if (begin == std::string::npos) return {};
  size_t end = s.find_last_not_of(ws);
  return s.substr(begin, end - begin + 1);
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

void apply_microarchitecture_table(CpuIdentity& cpu) {
  if (auto entry = lookup_microarchitecture(cpu.vendor, cpu.family, cpu.model)) {
    cpu.table_codename = entry->codename;
    cpu.microarchitecture = entry->uarch;
  } else {
    cpu.table_codename.clear();
    cpu.microarchitecture.clear();
  }
  choose_codename(cpu);
}

void choose_codename(CpuIdentity& cpu) {
  if (!cpu.table_codename.empty()) {
    cpu.codename = cpu.table_codename;
    cpu.codename_source = kCodenameFromTable;
  } else {
    cpu.codename = cpu.libcpuid_codename;
    cpu.codename_source = kCodenameFromLibcpuid;
  }
}

std::string describe_smt(const std::string& control_text, const std::string& active_text) {
  const std::string control = trim(control_text);
  const std::string active = trim(active_text);
  if (control == "notsupported" || control == "notimplemented") return "off (not supported)";
  if (control == "forceoff" || control == "off") return "off (disabled)";
  if (active == "1") return "on";
  if (active == "0") return "off";
  if (control == "on") return "on";
  return "unknown";
}

std::string microcode_from_cpuinfo(const std::string& cpuinfo_text) {
  std::istringstream lines(cpuinfo_text);
  std::string line;
  while (std::getline(lines, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (trim(line.substr(0, colon)) == "microcode") return trim(line.substr(colon + 1));
  }
  return {};
}

CpuIdentity detect_cpu_identity() {
  if (!cpuid_present()) throw HarnessError("CPUID: this CPU has no CPUID instruction");
  cpu_raw_data_t raw{};
  if (cpuid_get_raw_data(&raw) != 0) {
    throw HarnessError(fmt::format("libcpuid: cpuid_get_raw_data: {}", cpuid_error()));
  }
  cpu_id_t id{};
  if (cpu_identify(&raw, &id) != 0) {
    throw HarnessError(fmt::format("libcpuid: cpu_identify: {}", cpuid_error()));
  }
  CpuIdentity cpu;
  cpu.vendor = id.vendor_str;
  cpu.brand = trim(id.brand_str);
  cpu.family = id.ext_family;
  cpu.model = id.ext_model;
  cpu.stepping = id.stepping;
  cpu.libcpuid_codename = id.cpu_codename;
  // Not id.num_cores / num_logical_cpus: those describe the physical package, which a
  // guest does not have (a 2-vCPU guest reads "cores: 1, logical CPUs: 254").
  const OsCpuCounts counts = detect_os_cpu_counts();
  cpu.packages = counts.packages;
  cpu.cores = counts.cores;
  cpu.logical_cpus = counts.pus;
  cpu.numa_nodes = counts.numa_nodes;
  cpu.l3_domains = counts.l3_domains;
  cpu.hypervisor = detect_hypervisor();

  utsname uts{};
  if (::uname(&uts) != 0) throw os_error("uname");
  cpu.kernel = uts.release;
  cpu.machine = uts.machine;
  cpu.hostname = uts.nodename;
  cpu.microcode = microcode_from_cpuinfo(read_text_file("/proc/cpuinfo"));
  cpu.smt = describe_smt(read_text_file("/sys/devices/system/cpu/smt/control"),
                         read_text_file("/sys/devices/system/cpu/smt/active"));
  apply_microarchitecture_table(cpu);
  return cpu;
}

results::HostInfo to_host_info(const CpuIdentity& cpu) {
  results::HostInfo host;
  host.hostname = cpu.hostname;
  host.cpu_vendor = cpu.vendor;
  host.cpu_brand = cpu.brand;
  host.cpu_family = cpu.family;
  host.cpu_model = cpu.model;
  host.cpu_stepping = cpu.stepping;
  host.cpu_codename = cpu.codename;
  host.kernel = cpu.kernel;
  host.microcode = cpu.microcode;
  host.hypervisor = cpu.hypervisor;
  host.vcpus = cpu.logical_cpus;
  return host;
}

std::string format_cpu_text(const CpuIdentity& cpu) {
  const std::string codename =
      cpu.codename.empty() ? std::string("(unknown)")
      : cpu.codename_source == kCodenameFromTable
          ? fmt::format("{} ({}, {})", cpu.codename, cpu.microarchitecture, cpu.codename_source)
          : fmt::format("{} ({}'s guess; not in flakelab's table)", cpu.codename, cpu.codename_source);
  std::string out;
  out += fmt::format("vendor:       {}\n", cpu.vendor);
  out += fmt::format("brand:        {}\n", cpu.brand);
  out += fmt::format("family:       {} (0x{:x})\n", cpu.family, cpu.family);
  out += fmt::format("model:        {} (0x{:x})\n", cpu.model, cpu.model);
  out += fmt::format("stepping:     {}\n", cpu.stepping);
  out += fmt::format("codename:     {}\n", codename);
  if (cpu.codename_source == kCodenameFromTable && cpu.libcpuid_codename != cpu.codename) {
    out += fmt::format("libcpuid:     {} (libcpuid's codename, for reference)\n", cpu.libcpuid_codename);
  }
  out += fmt::format("packages:     {}\n", cpu.packages);
  out += fmt::format("cores:        {}\n", cpu.cores);
  out += fmt::format("logical CPUs: {} (online, as the OS sees them)\n", cpu.logical_cpus);
  out += fmt::format("NUMA nodes:   {}\n", cpu.numa_nodes);
  out += fmt::format("L3 domains:   {}\n", cpu.l3_domains);
  out += fmt::format("SMT:          {}\n", cpu.smt);
  out += fmt::format("hypervisor:   {}\n", cpu.hypervisor.empty() ? "none" : cpu.hypervisor);
  out += fmt::format("microcode:    {}\n", cpu.microcode.empty() ? "(not reported)" : cpu.microcode);
  out += fmt::format("kernel:       {} ({})\n", cpu.kernel, cpu.machine);
  out += fmt::format("hostname:     {}\n", cpu.hostname);
  return out;
}

std::string format_cpu_json(const CpuIdentity& cpu) {
  nlohmann::ordered_json j;
  j["vendor"] = cpu.vendor;
  j["brand"] = cpu.brand;
  j["family"] = cpu.family;
  j["model"] = cpu.model;
  j["stepping"] = cpu.stepping;
  j["codename"] = cpu.codename;
  j["codename_source"] = cpu.codename_source;
  j["libcpuid_codename"] = cpu.libcpuid_codename;
  j["table_codename"] = cpu.table_codename;
  j["microarchitecture"] = cpu.microarchitecture;
  j["packages"] = cpu.packages;
  j["cores"] = cpu.cores;
  j["logical_cpus"] = cpu.logical_cpus;
  j["numa_nodes"] = cpu.numa_nodes;
  j["l3_domains"] = cpu.l3_domains;
  j["smt"] = cpu.smt;
  j["hypervisor"] = cpu.hypervisor;
  j["microcode"] = cpu.microcode;
  j["kernel"] = cpu.kernel;
  j["machine"] = cpu.machine;
  j["hostname"] = cpu.hostname;
  return j.dump(2) + "\n";
}

}  // namespace flakelab::harness
