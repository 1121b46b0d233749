#include "creds_restore.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/securebits.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include <spdlog/spdlog.h>

#include "creds_dump.h"
#include "creds_image.h"
#include "flakelab/compel/remote_session.h"
#include "flakelab/engine/error.h"
#include "restore_steps.h"

namespace flakelab::engine {
namespace {

using compel::RemoteAddr;

constexpr uint32_t kCapSetgid = 6, kCapSetuid = 7, kCapSetpcap = 8, kCapSysAdmin = 21;
constexpr uint32_t kLockBits = SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                               SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;

bool has(uint64_t caps, uint32_t cap) { return caps >> cap & 1; }

// The identity part: what setgroups/setres[ug]id/capset/securebits set.
bool same_identity(const pb::Credentials& a, const pb::Credentials& b) {
  return a.uid() == b.uid() && a.euid() == b.euid() && a.suid() == b.suid() && a.fsuid() == b.fsuid() &&
         a.gid() == b.gid() && a.egid() == b.egid() && a.sgid() == b.sgid() && a.fsgid() == b.fsgid() &&
         std::equal(a.groups().begin(), a.groups().end(), b.groups().begin(), b.groups().end()) &&
         a.cap_inheritable() == b.cap_inheritable() && a.cap_permitted() == b.cap_permitted() &&
         a.cap_effective() == b.cap_effective() && a.cap_bounding() == b.cap_bounding() &&
         a.cap_ambient() == b.cap_ambient() && a.securebits() == b.securebits();
}

// Ours, which every process we make starts with.
pb::Credentials restorer_credentials() {
  pb::Credentials c = read_credentials(getpid(), static_cast<pid_t>(gettid()));
  int bits = prctl(PR_GET_SECUREBITS);
  if (bits < 0) throw_errno("prctl PR_GET_SECUREBITS (the restorer's own)");
  c.set_securebits(static_cast<uint32_t>(bits));
  return c;
}

std::string why_not(const pb::Credentials& want, const pb::Credentials& ours) {
  std::string missing;
  auto need = [&](bool ok, const std::string& what) {
    if (!ok) missing += (missing.empty() ? "" : "; ") + what;
  };
  if (want.seccomp_mode() != SECCOMP_MODE_DISABLED) {
    need(has(ours.cap_effective(), kCapSysAdmin), "cap_sys_admin (to install seccomp filters under ptrace)");
    need(ours.seccomp_mode() == SECCOMP_MODE_DISABLED, "a restorer not under seccomp itself");
  }
  if (ours.seccomp_mode() != SECCOMP_MODE_DISABLED)
    need(false, "a restorer not under seccomp (its filters would be inherited)");
  need(!ours.no_new_privs() || want.no_new_privs(), "a restorer without no_new_privs (it would be inherited)");
  if (same_identity(want, ours)) return missing;
  const uint64_t ours_eff = ours.cap_effective();
  need(has(ours_eff, kCapSetuid), "cap_setuid (to become uid " + std::to_string(want.uid()) + "/" +
                                      std::to_string(want.euid()) + "/" + std::to_string(want.suid()) + ")");
  need(has(ours_eff, kCapSetgid), "cap_setgid (to set gids and groups)");
  need(has(ours_eff, kCapSetpcap), "cap_setpcap (to set securebits and the bounding set)");
  if (uint64_t extra = (want.cap_permitted() | want.cap_effective() | want.cap_ambient()) & ~ours.cap_permitted())
    need(false, "capabilities the restorer does not have: " + cap_names(extra));
  if (uint64_t extra = want.cap_inheritable() & ~(ours.cap_inheritable() | ours.cap_bounding()))
    need(false, "inheritable capabilities outside the restorer's bounding set: " + cap_names(extra));
  if (uint64_t extra = want.cap_bounding() & ~ours.cap_bounding())
    need(false, "bounding-set capabilities outside the restorer's: " + cap_names(extra));
  if (uint32_t locked = ours.securebits() & kLockBits) {
    // A lock freezes its bit and itself; the restore also sets SECBIT_NO_SETUID_FIXUP for a while.
    uint32_t frozen = locked | (locked >> 1);
    if ((want.securebits() & frozen) != (ours.securebits() & frozen) || (locked & SECBIT_NO_SETUID_FIXUP_LOCKED))
      need(false, "securebits the restorer has locked (its securebits 0x" + fmt::format("{:x}", ours.securebits()) +
                      ", wanted 0x" + fmt::format("{:x}", want.securebits()) + ")");
  }
  return missing;
}

// Runs the thread's remote syscalls, naming the tid in every error.
class CredsSetter {
 public:
  CredsSetter(compel::SeizedThread& th, pid_t pid, const Trampoline& t)
      : s_(th), scratch_(pid, t), what_(" (restoring credentials of pid " + std::to_string(pid) + " tid " +
                                        std::to_string(th.tid()) + ")") {}

  long call(const std::string& what, long nr, compel::SyscallArg a1 = {}, compel::SyscallArg a2 = {},
            compel::SyscallArg a3 = {}, compel::SyscallArg a4 = {}, compel::SyscallArg a5 = {}) {
    long r = s_.syscall_checked(what + what_, nr, a1, a2, a3, a4, a5);
    scratch_.reset();
    return r;
  }
  long try_call(long nr, compel::SyscallArg a1 = {}, compel::SyscallArg a2 = {}, compel::SyscallArg a3 = {}) {
    return s_.syscall(nr, a1, a2, a3);
  }
  RemoteAddr put(const void* data, size_t size) { return scratch_.put(data, size); }
  void reset() { scratch_.reset(); }
  const std::string& what() const { return what_; }
  void settle() { s_.settle(); }

 private:
  compel::RemoteSession s_;
  restore_detail::Scratch scratch_;
  std::string what_;
};

void install_filter(CredsSetter& s, const pb::SeccompFilter& f, bool tsync) {
  RemoteAddr prog = s.put(f.program().data(), f.program().size());
  sock_fprog fprog{static_cast<unsigned short>(f.program().size() / sizeof(sock_filter)), nullptr};
  // sock_fprog carries the target's address of the program as a pointer.
  fprog.filter = reinterpret_cast<sock_filter*>(prog.as_int());
  RemoteAddr fp = s.put(&fprog, sizeof(fprog));
  uint32_t flags = f.flags() | (tsync ? SECCOMP_FILTER_FLAG_TSYNC : 0);
  long r = s.call("seccomp SET_MODE_FILTER filter #" + std::to_string(f.id()), SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                  flags, fp);
  // TSYNC returns the id of a thread it could not synchronise.
  if (r != 0)
    throw EngineError("seccomp TSYNC of filter #" + std::to_string(f.id()) + s.what() + ": thread " +
                      std::to_string(r) + " has a filter that is not an ancestor");
}

void capset(CredsSetter& s, const std::string& what, uint64_t inh, uint64_t prm, uint64_t eff) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {
      {static_cast<uint32_t>(eff), static_cast<uint32_t>(prm), static_cast<uint32_t>(inh)},
      {static_cast<uint32_t>(eff >> 32), static_cast<uint32_t>(prm >> 32), static_cast<uint32_t>(inh >> 32)}};
  RemoteAddr h = s.put(&header, sizeof(header));
  RemoteAddr d = s.put(data, sizeof(data));
  s.call(what, SYS_capset, h, d);
}

void set_loginuid(CredsSetter& s, uint32_t loginuid, const std::string& who, std::vector<std::string>* skipped,
                  spdlog::logger* log) {
  // Only the task itself may write its loginuid (proc_loginuid_write).
  static const char kPath[] = "/proc/thread-self/loginuid";
  std::string text = std::to_string(loginuid);
  RemoteAddr path = s.put(kPath, sizeof(kPath));
  RemoteAddr data = s.put(text.data(), text.size());
  long fd = s.try_call(SYS_open, path, O_WRONLY | O_CLOEXEC);
  long r = fd < 0 ? fd : s.try_call(SYS_write, fd, data, text.size());
  if (fd >= 0) s.try_call(SYS_close, fd);
  s.reset();
  if (r >= 0) return;
  std::string why = who + ": loginuid " + text + " not restored: the kernel refused it (" + std::strerror(static_cast<int>(-r)) + ")";
  if (log) log->warn("{}", why);
  if (skipped) skipped->push_back(why);
}

void check_result(const pb::Credentials& want, const pb::Credentials& got, const std::string& who) {
  pb::Credentials w = want, g = got;
  g.set_securebits(w.securebits());  // not in /proc; prctl checked it
  if (!same_identity(w, g) || w.no_new_privs() != g.no_new_privs() || w.seccomp_mode() != g.seccomp_mode())
    throw EngineError(who + ": the credentials it has after restore differ from the image's (got uid " +
                      std::to_string(g.euid()) + " caps " + fmt::format("{:x}", g.cap_effective()) + " seccomp " +
                      std::to_string(g.seccomp_mode()) + ")");
}

}  // namespace

std::string check_credentials_grantable(const Image& image) {
  std::optional<pb::Credentials> ours;
  for (const auto& proc : image.processes)
    for (const auto& t : proc.process.threads()) {
      if (!t.has_creds()) continue;
      if (!ours) ours = restorer_credentials();
      if (std::string why = why_not(t.creds(), *ours); !why.empty())
        return "pid " + std::to_string(proc.process.pid()) + " tid " + std::to_string(t.tid()) +
               ": cannot restore its credentials (uid " + std::to_string(t.creds().euid()) + ", gid " +
               std::to_string(t.creds().egid()) + "): the restorer lacks " + why;
    }
  return "";
}

void restore_credentials(spdlog::logger* log, compel::SeizedThread& th, pid_t pid, const pb::Process& p, int index,
                         const Trampoline& t, std::vector<std::string>* skipped) {
  const pb::Thread& thread = p.threads(index);
  if (!thread.has_creds()) return;
  const pb::Credentials& want = thread.creds();
  const std::string who = "pid " + std::to_string(pid) + " tid " + std::to_string(thread.tid());
  pb::Credentials now = read_credentials(pid, th.tid());
  int our_bits = prctl(PR_GET_SECUREBITS);  // the thread has ours: it was made by us
  if (our_bits < 0) throw_errno("prctl PR_GET_SECUREBITS (the restorer's own)");
  now.set_securebits(static_cast<uint32_t>(our_bits));
  SeccompPlan plan = seccomp_plan(p);
  const auto& own_filters = plan.per_thread.at(static_cast<size_t>(index));
  const bool filters = !own_filters.empty() || (index == 0 && !plan.shared.empty());
  const bool identity = !same_identity(want, now);
  const bool nnp = want.no_new_privs() && !now.no_new_privs();
  const bool loginuid = want.loginuid() != now.loginuid();
  // The common case (a process of the restorer's own credentials): no remote call at all.
  if (!filters && !identity && !nnp && !loginuid && want.seccomp_mode() != SECCOMP_MODE_STRICT) {
    check_result(want, now, who);
    return;
  }
  {
    CredsSetter s(th, pid, t);
    // Privileged still, so a filter installs without no_new_privs; suspended until release.
    if (index == 0)
      for (const auto* f : plan.shared) install_filter(s, *f, true);
    for (const auto* f : own_filters) install_filter(s, *f, false);
    // Needs CAP_AUDIT_CONTROL: before the capabilities go. 4294967295 unsets it.
    if (loginuid) set_loginuid(s, want.loginuid(), who, skipped, log);
    if (identity) {
      std::vector<uint32_t> groups(want.groups().begin(), want.groups().end());
      RemoteAddr list = groups.empty() ? RemoteAddr() : s.put(groups.data(), groups.size() * sizeof(uint32_t));
      s.call("setgroups", SYS_setgroups, groups.size(), list);
      // Caps survive the uid changes: no fixup of them until securebits are final.
      s.call("prctl PR_SET_SECUREBITS (NO_SETUID_FIXUP)", SYS_prctl, PR_SET_SECUREBITS,
             now.securebits() | SECBIT_NO_SETUID_FIXUP);
      s.call("setresgid", SYS_setresgid, want.gid(), want.egid(), want.sgid());
      s.call("setresuid", SYS_setresuid, want.uid(), want.euid(), want.suid());
      s.call("setfsgid", SYS_setfsgid, want.fsgid());  // returns the old fsgid; checked below
      s.call("setfsuid", SYS_setfsuid, want.fsuid());
      // Inheritable first (bounded by the bounding set, which is still whole), so ambient can be raised.
      capset(s, "capset inheritable", want.cap_inheritable(), now.cap_permitted(), now.cap_effective());
      s.call("prctl PR_CAP_AMBIENT_CLEAR_ALL", SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
      for (uint32_t c = 0; c <= CredsLimits::kLastCap; ++c)
        if (has(want.cap_ambient(), c))
          s.call("prctl PR_CAP_AMBIENT_RAISE " + cap_names(uint64_t{1} << c), SYS_prctl, PR_CAP_AMBIENT,
                 PR_CAP_AMBIENT_RAISE, c, 0, 0);
      for (uint32_t c = 0; c <= CredsLimits::kLastCap; ++c)
        if (has(now.cap_bounding(), c) && !has(want.cap_bounding(), c))
          s.call("prctl PR_CAPBSET_DROP " + cap_names(uint64_t{1} << c), SYS_prctl, PR_CAPBSET_DROP, c);
      s.call("prctl PR_SET_SECUREBITS", SYS_prctl, PR_SET_SECUREBITS, want.securebits());
      capset(s, "capset", want.cap_inheritable(), want.cap_permitted(), want.cap_effective());
      long bits = s.call("prctl PR_GET_SECUREBITS", SYS_prctl, PR_GET_SECUREBITS);
      if (static_cast<uint32_t>(bits) != want.securebits())
        throw EngineError(who + ": securebits are 0x" + fmt::format("{:x}", bits) + " after restore, not 0x" +
                          fmt::format("{:x}", want.securebits()));
    }
    if (nnp)
      s.call("prctl PR_SET_NO_NEW_PRIVS", SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    // Last: strict mode allows no other call (suspended until release, as filters are).
    if (want.seccomp_mode() == SECCOMP_MODE_STRICT)
      s.call("seccomp SET_MODE_STRICT", SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, 0);
    s.settle();
  }
  check_result(want, read_credentials(pid, th.tid()), who);
}

}  // namespace flakelab::engine
