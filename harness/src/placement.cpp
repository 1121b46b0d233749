#include "flakelab/harness/placement.h"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>

#include "flakelab/harness/error.h"
#include "flakelab/harness/topology.h"

namespace flakelab::harness {
namespace {

using scenarios::Role;

constexpr Role kAllRoles[] = {Role::kVictim, Role::kInjector, Role::kWriter};

UsageError syntax_error(std::string_view text, std::string_view why) {
  return UsageError(fmt::format(
      "bad --cpus '{}': {}; expected ROLE=CPU[,ROLE=CPU...] with ROLE one of victim, injector, "
      "writer, e.g. --cpus victim=0,injector=1",
      text, why));
}

}  // namespace

Placement Placement::parse(std::string_view text) {
  Placement placement;
  if (text.empty()) return placement;
  std::string_view rest = text;
  while (true) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      throw syntax_error(text, fmt::format("'{}' has no '='", item));
    }
    std::string_view role_text = item.substr(0, eq);
    std::string_view cpu_text = item.substr(eq + 1);
    std::optional<Role> role = scenarios::role_from_string(role_text);
    if (!role) throw syntax_error(text, fmt::format("unknown role '{}'", role_text));
    int cpu = -1;
    auto [end, ec] = std::from_chars(cpu_text.data(), cpu_text.data() + cpu_text.size(), cpu);
    if (cpu_text.empty() || ec != std::errc() || end != cpu_text.data() + cpu_text.size() ||
        cpu < 0) {
      throw syntax_error(text, fmt::format("'{}' is not a CPU number", cpu_text));
    }
    if (placement.cpu_of(*role)) {
      throw syntax_error(text, fmt::format("role {} is given twice", role_text));
    }
    placement.set(*role, cpu);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return placement;
}

void Placement::validate(const Topology& topology) const {
  for (Role role : kAllRoles) {
    std::optional<int> cpu = cpu_of(role);
    if (cpu && !topology.has_pu(*cpu)) {
      throw UsageError(fmt::format(
          "--cpus {}={}: CPU {} does not exist on this machine (usable CPUs per hwloc: {})",
          scenarios::to_string(role), *cpu, *cpu, format_cpu_list(topology.pus())));
    }
  }
}

std::optional<int> Placement::cpu_of(Role role) const {
  return cpus_[static_cast<size_t>(role)];
}

void Placement::set(Role role, int cpu) { cpus_[static_cast<size_t>(role)] = cpu; }

bool Placement::unpinned() const {
  for (const auto& cpu : cpus_) {
    if (cpu) return false;
  }
  return noise_.empty();
}

std::vector<int> Placement::cpus() const {
  std::vector<int> out;
  for (const auto& cpu : cpus_) {
    if (cpu) out.push_back(*cpu);
  }
  for (const NoiseThread& thread : noise_) out.push_back(thread.cpu);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string Placement::to_string() const {
  std::string out;
  for (Role role : kAllRoles) {
    if (std::optional<int> cpu = cpu_of(role)) {
      if (!out.empty()) out += ',';
      out += fmt::format("{}={}", scenarios::to_string(role), *cpu);
    }
  }
  for (const NoiseThread& thread : noise_) {
    if (!out.empty()) out += ',';
    out += fmt::format("noise={}:{}", harness::to_string(thread.kind), thread.cpu);
  }
  return out.empty() ? "unpinned" : out;
}

}  // namespace flakelab::harness
