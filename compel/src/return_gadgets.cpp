#include "flakelab/compel/return_gadgets.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "flakelab/base/procfs.h"
#include "flakelab/compel/error.h"
#include "flakelab/compel/remote_memory.h"

namespace flakelab::compel {
namespace {

constexpr uint8_t kSyscallRet[] = {0x0f, 0x05, 0xc3};
// glibc's __restore_rt; musl and others use the 32-bit move.
constexpr uint8_t kSigreturnLong[] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
constexpr uint8_t kSigreturnShort[] = {0xb8, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
constexpr uint8_t kPopRdi[] = {0x5f, 0xc3}, kPopRsi[] = {0x5e, 0xc3}, kPopRax[] = {0x58, 0xc3};

struct Pattern {
  const uint8_t* bytes;
  size_t size;
};
constexpr Pattern kSigreturnPatterns[] = {{kSigreturnLong, sizeof(kSigreturnLong)},
                                          {kSigreturnShort, sizeof(kSigreturnShort)}};

// Offsets inside one mapping of a file.
struct FoundIn {
  std::optional<uint64_t> syscall_ret;
  std::optional<uint64_t> sigreturn;
  std::optional<uint64_t> pop_rdi, pop_rsi, pop_rax;
};

using FileKey = std::tuple<std::string, uint64_t, uint64_t, uint64_t>;  // path, inode, pgoff, length

FileKey key_of(const base::procfs::MapEntry& m) { return {m.path, m.inode, m.pgoff, m.end - m.start}; }

std::optional<uint64_t> find(const uint8_t* data, size_t size, const uint8_t* pat, size_t pat_size) {
  const uint8_t* end = data + size;
  const uint8_t* hit = std::search(data, end, pat, pat + pat_size);
  if (hit == end) return std::nullopt;
  return static_cast<uint64_t>(hit - data);
}

FoundIn scan(const uint8_t* data, size_t size) {
  FoundIn f;
  f.syscall_ret = find(data, size, kSyscallRet, sizeof(kSyscallRet));
  for (const Pattern& p : kSigreturnPatterns)
    if (!f.sigreturn) f.sigreturn = find(data, size, p.bytes, p.size);
  f.pop_rdi = find(data, size, kPopRdi, sizeof(kPopRdi));
  f.pop_rsi = find(data, size, kPopRsi, sizeof(kPopRsi));
  f.pop_rax = find(data, size, kPopRax, sizeof(kPopRax));
  return f;
}

bool scannable(const base::procfs::MapEntry& m) {
  return (m.prot & PROT_EXEC) && (m.path == "[vdso]" || (!m.path.empty() && m.path[0] == '/'));
}

// The injector usually maps the same libc: scanning its own copy costs no copy.
std::optional<FoundIn> scan_own_copy(const FileKey& key) {
  static const std::vector<base::procfs::MapEntry> self = base::procfs::read_maps(getpid(), false);
  for (const auto& m : self)
    if (scannable(m) && m.path != "[vdso]" && key_of(m) == key)
      return scan(reinterpret_cast<const uint8_t*>(m.start), m.end - m.start);
  return std::nullopt;
}

FoundIn scan_victim_copy(pid_t pid, const base::procfs::MapEntry& m) {
  std::vector<uint8_t> text(m.end - m.start);
  try {
    read_remote(pid, RemoteAddr(m.start), text.data(), text.size(), m.path);
  } catch (const CompelError&) {
    return {};  // unreadable text (e.g. execute-only): look elsewhere
  }
  return scan(text.data(), text.size());
}

bool victim_has(pid_t pid, uint64_t addr, const uint8_t* pat, size_t size) {
  uint8_t buf[16];
  try {
    read_remote(pid, RemoteAddr(addr), buf, size, "gadget check");
  } catch (const CompelError&) {
    return false;
  }
  return std::memcmp(buf, pat, size) == 0;
}

bool victim_has_sigreturn(pid_t pid, uint64_t addr) {
  for (const Pattern& p : kSigreturnPatterns)
    if (victim_has(pid, addr, p.bytes, p.size)) return true;
  return false;
}

// The pops of `f` (offsets in the mapping at `start`), if the victim has those bytes.
void add_pops(pid_t pid, uint64_t start, const FoundIn& f, ReturnGadgets& g) {
  auto take = [&](const std::optional<uint64_t>& off, const uint8_t* pat, RemoteAddr& out) {
    if (off && victim_has(pid, start + *off, pat, 2)) out = RemoteAddr(start + *off);
  };
  take(f.pop_rdi, kPopRdi, g.pop_rdi);
  take(f.pop_rsi, kPopRsi, g.pop_rsi);
  take(f.pop_rax, kPopRax, g.pop_rax);
}

std::mutex g_cache_mutex;
std::map<FileKey, FoundIn> g_cache;

FoundIn found_in(pid_t pid, const base::procfs::MapEntry& m) {
  FileKey key = key_of(m);
  bool cacheable = m.path != "[vdso]";
  if (cacheable) {
    std::lock_guard lock(g_cache_mutex);
    auto it = g_cache.find(key);
    if (it != g_cache.end()) return it->second;
  }
  std::optional<FoundIn> f;
  if (cacheable) f = scan_own_copy(key);
  if (!f) f = scan_victim_copy(pid, m);
  if (cacheable) {
    std::lock_guard lock(g_cache_mutex);
    g_cache[key] = *f;
  }
  return *f;
}

// Field 22 of /proc/PID/stat: with the pid it names one process for good.
uint64_t start_time(pid_t pid) {
  try {
    auto fields = base::procfs::stat_fields(pid);
    constexpr size_t kStartTime = 22 - 3;
    return fields.size() > kStartTime ? std::stoull(fields[kStartTime]) : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

// Per process: the gadgets and the executable mapping ("home") of the thread
// they were looked up for; a thread whose ip is in that mapping reuses them.
struct Found {
  ReturnGadgets gadgets;
  uint64_t home_start = 0, home_end = 0;
};
std::map<std::pair<pid_t, uint64_t>, Found> g_by_process;

Found scan_process(pid_t pid, RemoteAddr rip);

}  // namespace

// Sessions come and go many times per dump: the maps are read once per process.
ReturnGadgets find_return_gadgets(pid_t pid, RemoteAddr rip) {
  const auto key = std::make_pair(pid, start_time(pid));
  {
    std::lock_guard lock(g_cache_mutex);
    auto it = g_by_process.find(key);
    if (it != g_by_process.end() && key.second != 0 && rip.as_int() >= it->second.home_start &&
        rip.as_int() < it->second.home_end) {
      ReturnGadgets g = it->second.gadgets;
      if (victim_has(pid, g.syscall_ret.as_int(), kSyscallRet, sizeof(kSyscallRet)) &&
          victim_has_sigreturn(pid, g.sigreturn.as_int()))
        return g;
    }
  }
  Found f = scan_process(pid, rip);
  std::lock_guard lock(g_cache_mutex);
  g_by_process[key] = f;
  return f.gadgets;
}

namespace {

Found scan_process(pid_t pid, RemoteAddr rip) {
  std::vector<base::procfs::MapEntry> maps;
  try {
    maps = base::procfs::read_maps(pid, false);
  } catch (const std::exception& e) {
    throw CompelError(fmt::format("find return code in pid {}: {}", pid, e.what()), ESRCH);
  }
  Found out;
  auto home = std::find_if(maps.begin(), maps.end(),
                           [&](const auto& m) { return rip.as_int() >= m.start && rip.as_int() < m.end; });
  if (home != maps.end()) {
    out.home_start = home->start;
    out.home_end = home->end;
    if (home->prot & PROT_EXEC) {
      // The thread's own code first; an anonymous mapping is read, never cached.
      FoundIn f = scannable(*home) ? found_in(pid, *home) : scan_victim_copy(pid, *home);
      if (f.syscall_ret && f.sigreturn &&
          victim_has(pid, home->start + *f.syscall_ret, kSyscallRet, sizeof(kSyscallRet)) &&
          victim_has_sigreturn(pid, home->start + *f.sigreturn)) {
        out.gadgets.syscall_ret = RemoteAddr(home->start + *f.syscall_ret);
        out.gadgets.sigreturn = RemoteAddr(home->start + *f.sigreturn);
        add_pops(pid, home->start, f, out.gadgets);
        return out;
      }
    }
  }
  // libc next: it has both on every glibc seen so far.
  std::stable_partition(maps.begin(), maps.end(), [](const auto& m) {
    return m.path.find("/libc.so") != std::string::npos || m.path.find("/libc-") != std::string::npos;
  });
  std::optional<uint64_t> syscall_ret, sigreturn;
  for (const auto& m : maps) {
    if (!scannable(m)) continue;
    FoundIn f = found_in(pid, m);
    if (!syscall_ret && f.syscall_ret && victim_has(pid, m.start + *f.syscall_ret, kSyscallRet, sizeof(kSyscallRet))) {
      syscall_ret = m.start + *f.syscall_ret;
      add_pops(pid, m.start, f, out.gadgets);
    }
    if (!sigreturn && f.sigreturn && victim_has_sigreturn(pid, m.start + *f.sigreturn))
      sigreturn = m.start + *f.sigreturn;
    if (syscall_ret && sigreturn) {
      out.gadgets.syscall_ret = RemoteAddr(*syscall_ret);
      out.gadgets.sigreturn = RemoteAddr(*sigreturn);
      return out;
    }
  }
  throw CompelError(fmt::format("pid {} has no {} in its executable mappings (a static binary without libc?): "
                                "compel refuses to run code in it, since a killed injector could not leave it "
                                "intact without writing into its own code",
                                pid, syscall_ret ? "`mov $15, %rax; syscall` (sigreturn)" : "`syscall; ret`"),
                    ENOEXEC);
}

}  // namespace

}  // namespace flakelab::compel
