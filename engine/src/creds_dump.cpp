#include "creds_dump.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <tuple>

#include "creds_image.h"
#include "flakelab/compel/proc.h"
#include "flakelab/engine/error.h"
#include "proc_files.h"

namespace flakelab::engine {
namespace {

constexpr int kCapSysAdmin = 21;

std::string tid_text(pid_t pid, pid_t tid) { return "pid " + std::to_string(pid) + " tid " + std::to_string(tid); }

// "Key:\tv1\tv2..." lines of a status file.
std::map<std::string, std::vector<std::string>> status_lines(const std::string& text) {
  std::map<std::string, std::vector<std::string>> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + at, nl - at);
    at = nl + 1;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    auto& words = out[std::string(line.substr(0, colon))];
    for (auto w : procfs::split_words(line.substr(colon + 1))) words.emplace_back(w);
  }
  return out;
}

uint64_t number(const std::vector<std::string>& words, size_t i, int base, const std::string& what) {
  if (i >= words.size()) throw EngineError(what + ": field missing");
  try {
    size_t used = 0;
    uint64_t v = std::stoull(words[i], &used, base);
    if (used == words[i].size()) return v;
  } catch (const std::exception&) {
  }
  throw EngineError(what + ": \"" + words[i] + "\" is not a number");
}

}  // namespace

pb::Credentials read_credentials(pid_t pid, pid_t tid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid);
  auto s = status_lines(procfs::read_file(dir + "/status"));
  auto field = [&](const char* key) -> const std::vector<std::string>& {
    auto it = s.find(key);
    if (it == s.end()) throw EngineError(dir + "/status: no " + key + " line");
    return it->second;
  };
  auto num = [&](const char* key, size_t i, int base = 10) {
    return number(field(key), i, base, dir + "/status " + key);
  };
  auto id = [&](const char* key, size_t i) { return static_cast<uint32_t>(num(key, i)); };
  pb::Credentials c;
  c.set_uid(id("Uid", 0)); c.set_euid(id("Uid", 1)); c.set_suid(id("Uid", 2)); c.set_fsuid(id("Uid", 3));
  c.set_gid(id("Gid", 0)); c.set_egid(id("Gid", 1)); c.set_sgid(id("Gid", 2)); c.set_fsgid(id("Gid", 3));
  for (size_t i = 0; i < field("Groups").size(); ++i) c.add_groups(id("Groups", i));
  c.set_cap_inheritable(num("CapInh", 0, 16));
  c.set_cap_permitted(num("CapPrm", 0, 16));
  c.set_cap_effective(num("CapEff", 0, 16));
  c.set_cap_bounding(num("CapBnd", 0, 16));
  c.set_cap_ambient(num("CapAmb", 0, 16));
  c.set_no_new_privs(num("NoNewPrivs", 0) != 0);
  c.set_seccomp_mode(static_cast<uint32_t>(num("Seccomp", 0)));
  c.set_loginuid(CredsLimits::kNoUid);
  if (::access((dir + "/loginuid").c_str(), F_OK) == 0) {  // absent without CONFIG_AUDIT
    std::string loginuid = procfs::read_file(dir + "/loginuid");
    c.set_loginuid(static_cast<uint32_t>(number({loginuid}, 0, 10, dir + "/loginuid")));
  }
  return c;
}

std::vector<SeccompFilterBytes> read_seccomp_filters(pid_t tid) {
  // The kernel counts filter_off from the oldest filter (seccomp.c get_nth_filter).
  std::vector<SeccompFilterBytes> oldest_first;
  for (unsigned long i = 0;; ++i) {
    long n = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, i, nullptr);
    if (n < 0 && errno == ENOENT) break;  // past the newest filter
    if (n < 0) throw_errno("PTRACE_SECCOMP_GET_FILTER tid " + std::to_string(tid) + " filter " + std::to_string(i));
    std::vector<sock_filter> prog(static_cast<size_t>(n));
    if (ptrace(PTRACE_SECCOMP_GET_FILTER, tid, i, prog.data()) != n)
      throw_errno("PTRACE_SECCOMP_GET_FILTER tid " + std::to_string(tid) + " filter " + std::to_string(i) + " (read)");
    __ptrace_seccomp_metadata md{i, 0};
    if (ptrace(PTRACE_SECCOMP_GET_METADATA, tid, sizeof(md), &md) < 0)
      throw_errno("PTRACE_SECCOMP_GET_METADATA tid " + std::to_string(tid) + " filter " + std::to_string(i));
    oldest_first.push_back({std::string(reinterpret_cast<const char*>(prog.data()), prog.size() * sizeof(sock_filter)),
                            static_cast<uint32_t>(md.flags)});
  }
  return oldest_first;
}

std::string check_credentials_dumpable(pid_t pid) {
  auto ours = read_credentials(getpid(), static_cast<pid_t>(gettid()));
  bool can_suspend = (ours.cap_effective() >> kCapSysAdmin & 1) && ours.seccomp_mode() == SECCOMP_MODE_DISABLED;
  for (pid_t tid : compel::proc::list_threads(pid)) {
    std::string mode;
    try {
      mode = procfs::status_field(tid, "Seccomp");
    } catch (const std::exception&) {
      continue;  // gone meanwhile: the freeze notices
    }
    if (mode.empty() || mode == "0" || can_suspend) continue;
    return tid_text(pid, tid) + " runs under seccomp (mode " + mode +
           "): dumping it needs CAP_SYS_ADMIN and no seccomp of our own, so that ptrace suspends its filters "
           "(PTRACE_O_SUSPEND_SECCOMP); our remote syscalls would be filtered or kill it";
  }
  return "";
}

void dump_credentials(pid_t pid, pb::Process& p) {
  // Filters by (parent, program, flags): equal chains become one chain of records.
  std::map<std::tuple<uint32_t, std::string, uint32_t>, uint32_t> known;
  for (auto& t : *p.mutable_threads()) {
    const pid_t tid = static_cast<pid_t>(t.tid());
    uint32_t securebits = t.creds().securebits();
    pb::Credentials c = read_credentials(pid, tid);
    c.set_securebits(securebits);
    // A newer kernel's capabilities would make an image no restore accepts.
    if ((c.cap_inheritable() | c.cap_permitted() | c.cap_effective() | c.cap_bounding() | c.cap_ambient()) &
        ~CredsLimits::kAllCaps)
      throw EngineError(tid_text(pid, tid) + ": has capabilities beyond the last one the engine knows (" +
                        cap_names(uint64_t{1} << CredsLimits::kLastCap) + ")");
    if (c.seccomp_mode() == SECCOMP_MODE_FILTER) {
      uint32_t parent = 0;
      for (auto& f : read_seccomp_filters(tid)) {
        auto [it, added] = known.try_emplace({parent, f.program, f.flags}, static_cast<uint32_t>(known.size() + 1));
        if (added) {
          auto* rec = p.add_seccomp_filters();
          rec->set_id(it->second);
          rec->set_parent(parent);
          rec->set_program(std::move(f.program));
          rec->set_flags(f.flags);
        }
        parent = it->second;
      }
      if (parent == 0) throw EngineError(tid_text(pid, tid) + ": seccomp filter mode without a filter");
      c.set_seccomp_filter(parent);
    } else if (c.seccomp_mode() != SECCOMP_MODE_DISABLED && c.seccomp_mode() != SECCOMP_MODE_STRICT) {
      throw EngineError(tid_text(pid, tid) + ": unknown seccomp mode " + std::to_string(c.seccomp_mode()));
    }
    *t.mutable_creds() = std::move(c);
  }
}

}  // namespace flakelab::engine
