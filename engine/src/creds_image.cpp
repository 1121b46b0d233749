#include "creds_image.h"

#include <linux/seccomp.h>

#include <cstdio>
#include <map>
#include <set>

#include "flakelab/engine/error.h"

namespace flakelab::engine {
namespace {

constexpr const char* kCapNames[CredsLimits::kLastCap + 1] = {
    "cap_chown",           "cap_dac_override",  "cap_dac_read_search", "cap_fowner",        "cap_fsetid",
    "cap_kill",            "cap_setgid",        "cap_setuid",          "cap_setpcap",       "cap_linux_immutable",
    "cap_net_bind_service", "cap_net_broadcast", "cap_net_admin",      "cap_net_raw",       "cap_ipc_lock",
    "cap_ipc_owner",       "cap_sys_module",    "cap_sys_rawio",       "cap_sys_chroot",    "cap_sys_ptrace",
    "cap_sys_pacct",       "cap_sys_admin",     "cap_sys_boot",        "cap_sys_nice",      "cap_sys_resource",
    "cap_sys_time",        "cap_sys_tty_config", "cap_mknod",          "cap_lease",         "cap_audit_write",
    "cap_audit_control",   "cap_setfcap",       "cap_mac_override",    "cap_mac_admin",     "cap_syslog",
    "cap_wake_alarm",      "cap_block_suspend", "cap_audit_read",      "cap_perfmon",       "cap_bpf",
    "cap_checkpoint_restore"};

constexpr size_t kInsnBytes = 8;  // struct sock_filter

std::string thread_field(int i, const char* field) {
  return "threads[" + std::to_string(i) + "].creds." + field;
}

}  // namespace

std::string cap_names(uint64_t caps) {
  std::string out;
  for (uint32_t c = 0; c < 64; ++c) {
    if (!(caps >> c & 1)) continue;
    if (!out.empty()) out += ", ";
    out += c <= CredsLimits::kLastCap ? kCapNames[c] : "cap_" + std::to_string(c);
  }
  return out.empty() ? "none" : out;
}

std::vector<const pb::SeccompFilter*> filter_chain(const pb::Process& p, uint32_t filter_id) {
  std::map<uint32_t, const pb::SeccompFilter*> by_id;
  for (const auto& f : p.seccomp_filters()) by_id[f.id()] = &f;
  std::vector<const pb::SeccompFilter*> chain;
  for (uint32_t id = filter_id; id != 0; id = by_id.at(id)->parent()) chain.insert(chain.begin(), by_id.at(id));
  return chain;
}

SeccompPlan seccomp_plan(const pb::Process& p) {
  SeccompPlan plan;
  std::vector<std::vector<const pb::SeccompFilter*>> chains;
  for (const auto& t : p.threads())
    chains.push_back(t.has_creds() && t.creds().seccomp_mode() == SECCOMP_MODE_FILTER
                         ? filter_chain(p, t.creds().seccomp_filter())
                         : std::vector<const pb::SeccompFilter*>{});
  size_t common = chains.empty() ? 0 : chains[0].size();
  for (const auto& c : chains) {
    size_t n = 0;
    while (n < common && n < c.size() && c[n] == chains[0][n]) ++n;
    common = n;
  }
  if (!chains.empty()) plan.shared.assign(chains[0].begin(), chains[0].begin() + static_cast<long>(common));
  for (auto& c : chains) plan.per_thread.emplace_back(c.begin() + static_cast<long>(common), c.end());
  return plan;
}

void validate_credentials(const pb::Process& p, const std::string& file) {
  auto fail = [&](const std::string& field, const std::string& problem) { throw ImageError(file, field, problem); };
  if (p.seccomp_filters_size() > CredsLimits::kMaxFilters)
    fail("seccomp_filters", "count " + std::to_string(p.seccomp_filters_size()) + " exceeds the limit of " +
                                std::to_string(CredsLimits::kMaxFilters));
  // Insns on the path from each filter to the oldest, as the kernel counts them.
  std::map<uint32_t, size_t> path_insns;
  for (int i = 0; i < p.seccomp_filters_size(); ++i) {
    const auto& f = p.seccomp_filters(i);
    std::string name = "seccomp_filters[" + std::to_string(i) + "]";
    if (f.id() == 0) fail(name + ".id", "is 0");
    if (path_insns.count(f.id())) fail(name + ".id", "id " + std::to_string(f.id()) + " appears twice");
    if (f.parent() != 0 && !path_insns.count(f.parent()))
      fail(name + ".parent", "filter " + std::to_string(f.parent()) + " is not an earlier record");
    size_t insns = f.program().size() / kInsnBytes;
    if (f.program().empty() || f.program().size() % kInsnBytes != 0 || insns > CredsLimits::kMaxFilterInsns)
      fail(name + ".program", std::to_string(f.program().size()) + " bytes is not a program of 1 to " +
                                  std::to_string(CredsLimits::kMaxFilterInsns) + " instructions");
    if (f.flags() & ~CredsLimits::kKnownFilterFlags) fail(name + ".flags", "unknown flags " + std::to_string(f.flags()));
    size_t total = insns + 4 + (f.parent() ? path_insns[f.parent()] : 0);
    if (total > CredsLimits::kMaxChainInsns)
      fail(name + ".program", "the chain holds " + std::to_string(total) + " instructions, more than the kernel's " +
                                  std::to_string(CredsLimits::kMaxChainInsns));
    path_insns[f.id()] = total;
  }
  bool any = false, all = true;
  for (const auto& t : p.threads()) {
    if (t.has_creds())
      any = true;
    else
      all = false;
  }
  if (any && !all) fail("threads", "some threads have credentials and some do not");
  if (!any && p.seccomp_filters_size() != 0) fail("seccomp_filters", "filters but no thread credentials");
  for (int i = 0; i < p.threads_size(); ++i) {
    if (!p.threads(i).has_creds()) continue;
    const auto& c = p.threads(i).creds();
    for (auto [v, field] : {std::pair{c.uid(), "uid"}, {c.euid(), "euid"}, {c.suid(), "suid"}, {c.fsuid(), "fsuid"},
                            {c.gid(), "gid"}, {c.egid(), "egid"}, {c.sgid(), "sgid"}, {c.fsgid(), "fsgid"}})
      if (v == CredsLimits::kNoUid) fail(thread_field(i, field), "4294967295 is not an id");
    if (c.groups_size() > CredsLimits::kMaxGroups)
      fail(thread_field(i, "groups"), "count " + std::to_string(c.groups_size()) + " exceeds the limit of " +
                                          std::to_string(CredsLimits::kMaxGroups));
    for (uint32_t g : c.groups())
      if (g == CredsLimits::kNoUid) fail(thread_field(i, "groups"), "4294967295 is not a group");
    for (auto [v, field] : {std::pair{c.cap_inheritable(), "cap_inheritable"}, {c.cap_permitted(), "cap_permitted"},
                            {c.cap_effective(), "cap_effective"}, {c.cap_bounding(), "cap_bounding"},
                            {c.cap_ambient(), "cap_ambient"}})
      if (v & ~CredsLimits::kAllCaps) fail(thread_field(i, field), "capabilities beyond the last one the engine knows");
    // The kernel's invariants (commoncap.c): a state no process can be in.
    if (c.cap_effective() & ~c.cap_permitted()) fail(thread_field(i, "cap_effective"), "is not within cap_permitted");
    if (c.cap_ambient() & ~(c.cap_permitted() & c.cap_inheritable()))
      fail(thread_field(i, "cap_ambient"), "is not within cap_permitted and cap_inheritable");
    if (c.securebits() & ~CredsLimits::kKnownSecurebits)
      fail(thread_field(i, "securebits"), "unknown bits in " + std::to_string(c.securebits()));
    switch (c.seccomp_mode()) {
      case SECCOMP_MODE_DISABLED:
      case SECCOMP_MODE_STRICT:
        if (c.seccomp_filter() != 0) fail(thread_field(i, "seccomp_filter"), "set without filter mode");
        break;
      case SECCOMP_MODE_FILTER:
        if (!path_insns.count(c.seccomp_filter()))
          fail(thread_field(i, "seccomp_filter"), "filter " + std::to_string(c.seccomp_filter()) + " is not in seccomp_filters");
        break;
      default:
        fail(thread_field(i, "seccomp_mode"), std::to_string(c.seccomp_mode()) + " is not a seccomp mode");
    }
  }
}

std::string show_credentials(const pb::Process& p) {
  std::string out;
  char line[512];
  for (const auto& t : p.threads()) {
    if (!t.has_creds()) continue;
    const auto& c = t.creds();
    std::string groups;
    for (uint32_t g : c.groups()) groups += (groups.empty() ? "" : ",") + std::to_string(g);
    std::snprintf(line, sizeof(line),
                  "  tid %u  uid %u/%u/%u/%u  gid %u/%u/%u/%u  groups [%s]  securebits 0x%x%s  seccomp %s",
                  t.tid(), c.uid(), c.euid(), c.suid(), c.fsuid(), c.gid(), c.egid(), c.sgid(), c.fsgid(),
                  groups.c_str(), c.securebits(), c.no_new_privs() ? "  no_new_privs" : "",
                  c.seccomp_mode() == SECCOMP_MODE_STRICT   ? "strict"
                  : c.seccomp_mode() == SECCOMP_MODE_FILTER ? ("filter #" + std::to_string(c.seccomp_filter())).c_str()
                                                            : "off");
    out += line;
    if (c.loginuid() != CredsLimits::kNoUid) out += "  loginuid " + std::to_string(c.loginuid());
    out += "\n";
    std::snprintf(line, sizeof(line), "    caps inh %llx prm %llx eff %llx bnd %llx amb %llx\n",
                  static_cast<unsigned long long>(c.cap_inheritable()),
                  static_cast<unsigned long long>(c.cap_permitted()),
                  static_cast<unsigned long long>(c.cap_effective()),
                  static_cast<unsigned long long>(c.cap_bounding()), static_cast<unsigned long long>(c.cap_ambient()));
    out += line;
  }
  for (const auto& f : p.seccomp_filters()) {
    std::snprintf(line, sizeof(line), "  seccomp filter #%u  after #%u  %zu instructions%s\n", f.id(), f.parent(),
                  f.program().size() / kInsnBytes, (f.flags() & SECCOMP_FILTER_FLAG_LOG) ? "  log" : "");
    out += line;
  }
  return out.empty() ? out : "credentials\n" + out;
}

}  // namespace flakelab::engine
