#include "vdso.h"

#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <map>

#include "address_space.h"
#include "flakelab/engine/error.h"

namespace flakelab::engine {
namespace {

pb::VmaKind special_kind(const std::string& name) {
  if (name == "[vdso]") return pb::VMA_VDSO;
  if (name == "[vvar]") return pb::VMA_VVAR;
  if (name == "[vvar_vclock]") return pb::VMA_VVAR_VCLOCK;
  return pb::VMA_UNKNOWN;
}

}  // namespace

uint64_t vdso_syscall_offset() {
  static const uint64_t offset = [] {
    uint64_t base = getauxval(AT_SYSINFO_EHDR);
    if (base == 0) throw EngineError("vDSO: this process has none (AT_SYSINFO_EHDR is 0)");
    for (const auto& m : procfs::read_maps(getpid(), false)) {
      if (m.path != "[vdso]") continue;
      const auto* p = reinterpret_cast<const uint8_t*>(m.start);
      for (uint64_t i = 0; i + 1 < m.end - m.start; ++i)
        if (p[i] == 0x0f && p[i + 1] == 0x05) return (m.start - base) + i;
    }
    throw EngineError("vDSO: no syscall instruction found");
  }();
  return offset;
}

void move_vdso_group(compel::RemoteSession& session, const std::vector<procfs::MapEntry>& current,
                     const pb::Process& image, std::vector<std::pair<uint64_t, uint64_t>> busy) {
  std::map<pb::VmaKind, Range> have, want;
  for (const auto& m : current)
    if (auto k = special_kind(m.path); k != pb::VMA_UNKNOWN) have[k] = {m.start, m.end};
  for (const auto& v : image.vmas())
    if (v.kind() >= pb::VMA_VDSO && v.kind() <= pb::VMA_VVAR_VCLOCK) want[v.kind()] = {v.start(), v.end()};
  for (const auto& [kind, r] : want) {
    auto it = have.find(kind);
    if (it == have.end())
      throw EngineError("restore: the image has " + pb::VmaKind_Name(kind) + " but this kernel gives none");
    if (it->second.end - it->second.start != r.end - r.start)
      throw EngineError("restore: " + pb::VmaKind_Name(kind) + " is " + std::to_string(r.end - r.start) +
                        " bytes in the image but " + std::to_string(it->second.end - it->second.start) +
                        " here (another kernel?)");
  }
  if (want.empty()) return;  // e.g. vdso=0: nothing to move, stale ones are unmapped by the caller
  bool same = true;
  for (const auto& [kind, r] : want) same = same && have[kind].start == r.start;
  if (same) return;
  // Through a temporary spot, so that old and new ranges never overlap in one mremap.
  std::vector<Range> avoid;
  for (auto& [s, e] : busy) avoid.push_back({s, e});
  uint64_t lo = UINT64_MAX, hi = 0;
  for (const auto& [kind, r] : have) {
    avoid.push_back(r);
    lo = std::min(lo, r.start);
    hi = std::max(hi, r.end);
  }
  for (const auto& [kind, r] : want) avoid.push_back(r);
  auto tmp = find_free_range(avoid, hi - lo, ImageLimits::kUserTop);
  if (!tmp) throw EngineError("restore: no free address range to move the vDSO through");
  // Ranges here are the target's addresses.
  using compel::RemoteAddr;
  for (auto& [kind, r] : have) {
    uint64_t len = r.end - r.start;
    uint64_t to = *tmp + (r.start - lo);
    session.syscall_checked("mremap " + pb::VmaKind_Name(kind) + " (to a temporary address)", SYS_mremap,
                            RemoteAddr(r.start), len, len, MREMAP_MAYMOVE | MREMAP_FIXED, RemoteAddr(to));
    r = {to, to + len};
  }
  for (auto& [kind, r] : have) {
    uint64_t len = r.end - r.start;
    auto w = want.find(kind);
    if (w == want.end()) {
      // The image had no such mapping (older kernel at dump time): drop it.
      session.syscall_checked("munmap " + pb::VmaKind_Name(kind), SYS_munmap, RemoteAddr(r.start), len);
      continue;
    }
    session.syscall_checked("mremap " + pb::VmaKind_Name(kind), SYS_mremap, RemoteAddr(r.start), len, len,
                            MREMAP_MAYMOVE | MREMAP_FIXED, RemoteAddr(w->second.start));
  }
}

}  // namespace flakelab::engine
