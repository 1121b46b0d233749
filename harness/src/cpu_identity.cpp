#include "flakelab/harness/cpu_identity.h"

#include <fmt/core.h>
#include <libcpuid/libcpuid.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "flakelab/harness/error.h"
#include "flakelab/harness/microarchitecture.h"

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

const char* hypervisor_name(hypervisor_vendor_t vendor) {
  switch (vendor) {
    case HYPERVISOR_BHYVE: return "bhyve";
    case HYPERVISOR_HYPERV: return "Hyper-V";
    case HYPERVISOR_KVM: return "KVM";
    case HYPERVISOR_PARALLELS: return "Parallels";
    case HYPERVISOR_QEMU: return "QEMU";
    case HYPERVISOR_VIRTUALBOX: return "VirtualBox";
    case HYPERVISOR_VMWARE: return "VMware";
    case HYPERVISOR_XEN: return "Xen";
    default: return "";
  }
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
  cpu.codename = id.cpu_codename;
  cpu.cores = id.num_cores;
  cpu.logical_cpus = id.num_logical_cpus;
  cpu.hypervisor = id.flags[CPU_FEATURE_HYPERVISOR] != 0;
  if (cpu.hypervisor) cpu.hypervisor_vendor = hypervisor_name(cpuid_get_hypervisor(&raw, &id));

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
  return host;
}

std::string format_cpu_text(const CpuIdentity& cpu) {
  std::string hypervisor = "no";
  if (cpu.hypervisor) {
    hypervisor = cpu.hypervisor_vendor.empty() ? "yes" : "yes (" + cpu.hypervisor_vendor + ")";
  }
  std::string out;
  out += fmt::format("vendor:       {}\n", cpu.vendor);
  out += fmt::format("brand:        {}\n", cpu.brand);
  out += fmt::format("family:       {} (0x{:x})\n", cpu.family, cpu.family);
  out += fmt::format("model:        {} (0x{:x})\n", cpu.model, cpu.model);
  out += fmt::format("stepping:     {}\n", cpu.stepping);
  out += fmt::format("codename:     {} (libcpuid)\n", cpu.codename);
  out += fmt::format("table:        {}\n",
                     cpu.table_codename.empty()
                         ? std::string("(not in flakelab's table)")
                         : fmt::format("{}, {} (flakelab's table)", cpu.table_codename, cpu.microarchitecture));
  out += fmt::format("cores:        {} (per package, from CPUID)\n", cpu.cores);
  out += fmt::format("logical CPUs: {} (per package, from CPUID)\n", cpu.logical_cpus);
  out += fmt::format("microcode:    {}\n", cpu.microcode.empty() ? "(not reported)" : cpu.microcode);
  out += fmt::format("hypervisor:   {}\n", hypervisor);
  out += fmt::format("SMT:          {}\n", cpu.smt);
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
  j["table_codename"] = cpu.table_codename;
  j["microarchitecture"] = cpu.microarchitecture;
  j["smt"] = cpu.smt;
  j["cores"] = cpu.cores;
  j["logical_cpus"] = cpu.logical_cpus;
  j["microcode"] = cpu.microcode;
  j["hypervisor"] = cpu.hypervisor;
  j["hypervisor_vendor"] = cpu.hypervisor_vendor;
  j["kernel"] = cpu.kernel;
  j["machine"] = cpu.machine;
  j["hostname"] = cpu.hostname;
  return j.dump(2) + "\n";
}

}  // namespace flakelab::harness
