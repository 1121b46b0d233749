// Semantic validation of an image: everything restore relies on is checked here,
// so the restorer can trust what it reads.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <sys/resource.h>

#include <cstring>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "flakelab/base/hex.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"
#include "creds_image.h"
#include "kinds/file_kind_traits.h"
#include "kinds/file_record.h"
#include "saved_image.h"
#include "tree_image.h"
#include "unix_image.h"

namespace flakelab::engine {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint32_t kPidMax = 4194304;  // PID_MAX_LIMIT on 64-bit

using base::hex;

std::string idx(const char* list, int i, const char* field) {
  return std::string(list) + "[" + std::to_string(i) + "]." + field;
}

class Checker {
 public:
  explicit Checker(const std::string& file) : file_(file) {}
  const std::string& file() const { return file_; }

  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    throw ImageError(file_, field, problem);
  }
  void user_address(const std::string& field, uint64_t v, bool allow_zero = false) const {
    if (v == 0 && allow_zero) return;
    if (v >= ImageLimits::kUserTop)
      fail(field, hex(v) + " is outside the user address space (must be below " + hex(ImageLimits::kUserTop) + ")");
  }
  void count(const std::string& field, int n, uint64_t max, uint64_t min = 0) const {
    if (static_cast<uint64_t>(n) > max)
      fail(field, "count " + std::to_string(n) + " exceeds the limit of " + std::to_string(max));
    if (static_cast<uint64_t>(n) < min)
      fail(field, "count " + std::to_string(n) + " is below the minimum of " + std::to_string(min));
  }
  void path(const std::string& field, const std::string& p, bool required) const {
    if (p.empty()) {
      if (required) fail(field, "is empty");
      return;
    }
    if (p.size() > ImageLimits::kMaxPath) fail(field, "path of " + std::to_string(p.size()) + " bytes is too long");
    if (p[0] != '/') fail(field, "\"" + p.substr(0, 64) + "\" is not an absolute path");
    if (p.find('\0') != std::string::npos) fail(field, "contains a NUL byte");
  }

 private:
  std::string file_;
};

void validate_pending(const Checker& c, const google::protobuf::RepeatedPtrField<pb::PendingSignal>& queue,
                      const std::string& field) {
  c.count(field, queue.size(), ImageLimits::kMaxPendingSignals);
  for (int i = 0; i < queue.size(); ++i) {
    const auto& s = queue.Get(i);
    std::string name = field + "[" + std::to_string(i) + "]";
    if (s.signo() < 1 || s.signo() > 64) c.fail(name + ".signo", std::to_string(s.signo()) + " is not a signal");
    if (s.siginfo().size() != 128) c.fail(name + ".siginfo", "size " + std::to_string(s.siginfo().size()) + " is not 128");
    int32_t si_signo;
    std::memcpy(&si_signo, s.siginfo().data(), 4);
    if (static_cast<uint32_t>(si_signo) != s.signo()) c.fail(name + ".siginfo", "si_signo disagrees with signo");
  }
}

void validate_thread(const Checker& c, const pb::Thread& t, int i, uint32_t pid) {
  validate_pending(c, t.pending(), "threads[" + std::to_string(i) + "].pending");
  if (t.tid() == 0 || t.tid() > kPidMax) c.fail(idx("threads", i, "tid"), "tid " + std::to_string(t.tid()) + " is out of range");
  if (i == 0 && t.tid() != pid) c.fail(idx("threads", i, "tid"), "the first thread must be the leader (tid == pid)");
  if (!t.has_gp()) c.fail(idx("threads", i, "gp"), "missing");
  // SCHED_OTHER..SCHED_DEADLINE (0-6, 4 unused); nice -20..19.
  if (t.has_sched() && (t.sched().policy() > 6 || t.sched().policy() == 4))
    c.fail(idx("threads", i, "sched.policy"), std::to_string(t.sched().policy()) + " is not a scheduling policy");
  if (t.has_sched() && (t.sched().nice() < -20 || t.sched().nice() > 19))
    c.fail(idx("threads", i, "sched.nice"), std::to_string(t.sched().nice()) + " is outside -20..19");
  const auto& gp = t.gp();
  c.user_address(idx("threads", i, "gp.rip"), gp.rip());
  c.user_address(idx("threads", i, "gp.rsp"), gp.rsp());
  c.user_address(idx("threads", i, "gp.fs_base"), gp.fs_base(), true);
  c.user_address(idx("threads", i, "gp.gs_base"), gp.gs_base(), true);
  if (gp.cs() != 0x33) c.fail(idx("threads", i, "gp.cs"), hex(gp.cs()) + " is not the 64-bit user code segment 0x33");
  if (gp.ss() != 0x2b) c.fail(idx("threads", i, "gp.ss"), hex(gp.ss()) + " is not the user data segment 0x2b");
  // legacy area (512) + XSAVE header (64) at least
  if (t.xstate().size() < 576 || t.xstate().size() > ImageLimits::kMaxXstate)
    c.fail(idx("threads", i, "xstate"), "size " + std::to_string(t.xstate().size()) + " is not a plausible XSAVE area");
  if (t.has_rseq() && t.rseq().size() != 0) {
    c.user_address(idx("threads", i, "rseq.address"), t.rseq().address());
    if (t.rseq().size() < 32 || t.rseq().size() > 4096)
      c.fail(idx("threads", i, "rseq.size"), std::to_string(t.rseq().size()) + " is out of range");
  }
  c.user_address(idx("threads", i, "robust_list"), t.robust_list(), true);
  c.user_address(idx("threads", i, "clear_child_tid"), t.clear_child_tid(), true);
  if (t.robust_list_len() > 4096) c.fail(idx("threads", i, "robust_list_len"), "is out of range");
  if (t.has_altstack()) {
    c.user_address(idx("threads", i, "altstack.sp"), t.altstack().sp(), true);
    if (t.altstack().size() > ImageLimits::kUserTop) c.fail(idx("threads", i, "altstack.size"), "is out of range");
  }
}

void validate_vmas(const Checker& c, const pb::Process& p) {
  c.count("vmas", p.vmas_size(), ImageLimits::kMaxVmas, 1);
  uint64_t prev_end = 0;
  int specials[6] = {};
  for (int i = 0; i < p.vmas_size(); ++i) {
    const auto& v = p.vmas(i);
    if (v.start() % kPage) c.fail(idx("vmas", i, "start"), hex(v.start()) + " is not page aligned");
    if (v.end() % kPage) c.fail(idx("vmas", i, "end"), hex(v.end()) + " is not page aligned");
    if (v.start() < kPage) c.fail(idx("vmas", i, "start"), hex(v.start()) + " is in the first page");
    c.user_address(idx("vmas", i, "start"), v.start());
    if (v.end() > ImageLimits::kUserTop)
      c.fail(idx("vmas", i, "end"), hex(v.end()) + " is outside the user address space");
    if (v.end() <= v.start()) c.fail(idx("vmas", i, "end"), hex(v.end()) + " is not above start " + hex(v.start()));
    // Only the advice dump records: others (MADV_DONTNEED, MADV_REMOVE...) would change contents.
    constexpr uint64_t kKeptAdvice = (uint64_t{1} << MADV_SEQUENTIAL) | (uint64_t{1} << MADV_RANDOM) |
                                     (uint64_t{1} << MADV_DONTFORK) | (uint64_t{1} << MADV_DONTDUMP) |
                                     (uint64_t{1} << MADV_MERGEABLE) | (uint64_t{1} << MADV_HUGEPAGE) |
                                     (uint64_t{1} << MADV_NOHUGEPAGE) | (uint64_t{1} << MADV_WIPEONFORK);
    if (v.advice() & ~kKeptAdvice) c.fail(idx("vmas", i, "advice"), hex(v.advice()) + " has advice restore does not give");
    if (v.droppable() && v.kind() != pb::VMA_ANON_PRIVATE)
      c.fail(idx("vmas", i, "droppable"), "only a private anonymous mapping can be droppable");
    if (v.start() < prev_end)
      c.fail(idx("vmas", i, "start"), hex(v.start()) + " overlaps or precedes the previous mapping (ends " + hex(prev_end) + ")");
    prev_end = v.end();
    if (v.prot() & ~static_cast<uint32_t>(PROT_READ | PROT_WRITE | PROT_EXEC))
      c.fail(idx("vmas", i, "prot"), hex(v.prot()) + " has unknown bits");
    if (v.name().size() > ImageLimits::kMaxPath) c.fail(idx("vmas", i, "name"), "is too long");
    switch (v.kind()) {
      case pb::VMA_FILE_PRIVATE:
      case pb::VMA_FILE_SHARED:
      case pb::VMA_SAVED_SHARED:  // path names the file for people; saved_file is checked below
        c.path(idx("vmas", i, "path"), v.path(), true);
        if (v.pgoff() % kPage) c.fail(idx("vmas", i, "pgoff"), hex(v.pgoff()) + " is not page aligned");
        if (v.pgoff() > (1ull << 62)) c.fail(idx("vmas", i, "pgoff"), hex(v.pgoff()) + " is out of range");
        break;
      case pb::VMA_ANON_PRIVATE:
      case pb::VMA_VDSO:
      case pb::VMA_VVAR:
      case pb::VMA_VVAR_VCLOCK:
        if (!v.path().empty()) c.fail(idx("vmas", i, "path"), "must be empty for this kind");
        break;
      default:
        c.fail(idx("vmas", i, "kind"), "unknown mapping kind " + std::to_string(static_cast<int>(v.kind())));
    }
    if (v.kind() >= pb::VMA_VDSO && v.kind() <= pb::VMA_VVAR_VCLOCK && ++specials[v.kind()] > 1)
      c.fail(idx("vmas", i, "kind"), "more than one " + pb::VmaKind_Name(v.kind()));
  }
}

void validate_pages(const Checker& c, const pb::Process& p, const PageBytes& pages, const std::string& pages_name) {
  c.count("pages", p.pages_size(), ImageLimits::kMaxPageRuns);
  uint64_t total = 0;
  uint64_t prev_end = 0;
  int vma = 0;
  for (int i = 0; i < p.pages_size(); ++i) {
    const auto& r = p.pages(i);
    if (r.vaddr() % kPage) c.fail(idx("pages", i, "vaddr"), hex(r.vaddr()) + " is not page aligned");
    if (r.nr_pages() == 0 || r.nr_pages() > ImageLimits::kUserTop / kPage)
      c.fail(idx("pages", i, "nr_pages"), std::to_string(r.nr_pages()) + " is out of range");
    c.user_address(idx("pages", i, "vaddr"), r.vaddr());
    uint64_t end = r.vaddr() + r.nr_pages() * kPage;
    if (end > ImageLimits::kUserTop) c.fail(idx("pages", i, "nr_pages"), "run ends outside the user address space");
    if (r.vaddr() < prev_end) c.fail(idx("pages", i, "vaddr"), hex(r.vaddr()) + " is not above the previous run");
    prev_end = end;
    // Runs are sorted, so the owning mapping is found by walking forward.
    while (vma < p.vmas_size() && p.vmas(vma).end() <= r.vaddr()) ++vma;
    if (vma == p.vmas_size() || p.vmas(vma).start() > r.vaddr() || p.vmas(vma).end() < end)
      c.fail(idx("pages", i, "vaddr"), "run " + hex(r.vaddr()) + "-" + hex(end) + " is not inside one mapping");
    auto kind = p.vmas(vma).kind();
    if (kind != pb::VMA_ANON_PRIVATE && kind != pb::VMA_FILE_PRIVATE)
      c.fail(idx("pages", i, "vaddr"), "run " + hex(r.vaddr()) + " lies in a " + pb::VmaKind_Name(kind) + " mapping");
    total += r.nr_pages() * kPage;
    if (total > ImageLimits::kMaxPagesBytes) c.fail(idx("pages", i, "nr_pages"), "total page data exceeds the limit");
  }
  if (total != p.pages_bytes())
    c.fail("pages_bytes", std::to_string(p.pages_bytes()) + " does not match the runs' total of " + std::to_string(total));
  if (pages.size() != total)
    throw ImageError(pages_name, "payload_len", "holds " + std::to_string(pages.size()) +
                                                    " bytes, the process image's page runs need " + std::to_string(total));
}

// Files on anonymous inodes: their status flags here, their records by their
// kinds' rules (kinds/<kind>_record.cpp), e.g. epoll watches against the fd table.
void validate_anon_files(const Checker& c, const pb::Process& p) {
  std::map<uint32_t, uint32_t> file_of;  // fd -> files index
  std::set<uint32_t> referenced;         // files some fd refers to
  for (const auto& fd : p.fds()) {
    file_of[fd.fd()] = fd.file();
    referenced.insert(fd.file());
  }
  for (int i = 0; i < p.files_size(); ++i) {
    const auto& f = p.files(i);
    if (!is_anon_inode_kind(f.kind())) continue;
    if ((f.flags() & O_ACCMODE) != O_RDWR || (f.flags() & ~static_cast<uint32_t>(O_ACCMODE | O_NONBLOCK)))
      c.fail(idx("files", i, "flags"), hex(f.flags()) + " is not O_RDWR with or without O_NONBLOCK");
    if (const FileRecord* record = file_record(f.kind()); record && record->validate)
      record->validate(f, RecordCheck(c.file(), p, i, file_of, referenced.count(static_cast<uint32_t>(i)) != 0));
  }
}

void validate_files(const Checker& c, const pb::Process& p) {
  // fdinfo shows the kernel's O_LARGEFILE (0100000); glibc defines it as 0 on x86-64.
  constexpr uint32_t kKernelLargefile = 0100000;
  constexpr uint32_t kAllowedFlags = O_ACCMODE | O_APPEND | O_NONBLOCK | O_DSYNC | O_SYNC | O_DIRECT | kKernelLargefile |
                                     O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_PATH;
  c.count("files", p.files_size(), ImageLimits::kMaxFds);
  // Kinds with a table of their own (pipes and their ends): kinds/<kind>_record.cpp.
  for (const FileRecord* record : file_records())
    if (record->validate_table) record->validate_table(TableCheck(c.file(), p));
  for (int i = 0; i < p.files_size(); ++i) {
    const auto& f = p.files(i);
    // Each kind's record: validate_anon_files(), validate_unix_sockets(), validate_saved_content().
    const FileKindTraits* traits = file_kind_traits(f.kind());
    if (!traits) c.fail(idx("files", i, "kind"), "unknown file kind " + std::to_string(static_cast<int>(f.kind())));
    if (has_path(f.kind())) {
      c.path(idx("files", i, "path"), f.path(), true);
    } else if (traits->shape != FileShape::kPipe && !f.path().empty()) {  // a pipe end's path is not read
      c.fail(idx("files", i, "path"), "must be empty for this kind");
    }
    if (f.flags() & ~kAllowedFlags) c.fail(idx("files", i, "flags"), hex(f.flags()) + " has flags restore cannot honour");
    if ((f.flags() & O_ACCMODE) == O_ACCMODE) c.fail(idx("files", i, "flags"), "invalid access mode");
    if (f.pos() > (1ull << 62)) c.fail(idx("files", i, "pos"), std::to_string(f.pos()) + " is out of range");
  }
  c.count("fds", p.fds_size(), ImageLimits::kMaxFds);
  std::set<uint32_t> seen;
  for (int i = 0; i < p.fds_size(); ++i) {
    const auto& f = p.fds(i);
    if (f.fd() >= ImageLimits::kMaxFdNumber) c.fail(idx("fds", i, "fd"), std::to_string(f.fd()) + " is out of range");
    if (!seen.insert(f.fd()).second) c.fail(idx("fds", i, "fd"), std::to_string(f.fd()) + " appears twice");
    if (f.file() >= static_cast<uint32_t>(p.files_size()))
      c.fail(idx("fds", i, "file"), std::to_string(f.file()) + " is not an index into files");
  }
  validate_anon_files(c, p);
}

void validate_mm(const Checker& c, const pb::MmFields& mm) {
  const std::pair<const char*, uint64_t> fields[] = {
      {"mm.start_code", mm.start_code()}, {"mm.end_code", mm.end_code()},   {"mm.start_data", mm.start_data()},
      {"mm.end_data", mm.end_data()},     {"mm.start_brk", mm.start_brk()}, {"mm.brk", mm.brk()},
      {"mm.start_stack", mm.start_stack()}, {"mm.arg_start", mm.arg_start()}, {"mm.arg_end", mm.arg_end()},
      {"mm.env_start", mm.env_start()},   {"mm.env_end", mm.env_end()}};
  for (auto& [name, v] : fields) c.user_address(name, v);
  if (mm.start_code() >= mm.end_code()) c.fail("mm.end_code", "is not above start_code");
  if (mm.start_data() > mm.end_data()) c.fail("mm.end_data", "is below start_data");
  if (mm.start_brk() > mm.brk()) c.fail("mm.brk", "is below start_brk");
  if (mm.arg_start() > mm.arg_end()) c.fail("mm.arg_end", "is below arg_start");
  if (mm.env_start() > mm.env_end()) c.fail("mm.env_end", "is below env_start");
  if (mm.auxv().size() > ImageLimits::kMaxAuxv || mm.auxv().size() % 16)
    c.fail("mm.auxv", "size " + std::to_string(mm.auxv().size()) + " is not a whole number of entries within the limit");
  c.path("mm.exe_path", mm.exe_path(), true);
}

// One live process; `process_name` labels errors (for a tree's descendants it
// names the pid too).
void validate_process(const pb::Process& p, const PageBytes& pages, const std::string& process_name,
                      const std::string& pages_name) {
  Checker c(process_name);
  if (p.pid() == 0 || p.pid() > kPidMax) c.fail("pid", std::to_string(p.pid()) + " is out of range");
  if (p.comm().size() > 15 || p.comm().find('\0') != std::string::npos)
    c.fail("comm", "is not a valid task name (at most 15 bytes, no NUL)");
  c.path("cwd", p.cwd(), true);
  // setgroups() takes at most NGROUPS_MAX; (uid_t)-1 is "no change" to setfsuid, not an id.
  c.count("fs_identity.groups", p.fs_identity().groups_size(), 65536);
  if (p.fs_identity().fsuid() == UINT32_MAX || p.fs_identity().fsgid() == UINT32_MAX)
    c.fail("fs_identity", "-1 is not a user or group id");
  if (p.pdeath_signal() > 64) c.fail("pdeath_signal", std::to_string(p.pdeath_signal()) + " is not a signal");
  if (p.umask() > 0777) c.fail("umask", "0" + std::to_string(p.umask()) + " has bits outside 0777");
  if (p.oom_score_adj() < -1000 || p.oom_score_adj() > 1000)
    c.fail("oom_score_adj", std::to_string(p.oom_score_adj()) + " is outside -1000..1000");
  if (p.thp_disable() > 3) c.fail("thp_disable", std::to_string(p.thp_disable()) + " is not a PR_GET_THP_DISABLE value");

  c.count("rlimits", p.rlimits_size(), RLIM_NLIMITS);
  std::set<uint32_t> seen;
  for (int i = 0; i < p.rlimits_size(); ++i) {
    const auto& r = p.rlimits(i);
    if (r.resource() >= RLIM_NLIMITS) c.fail(idx("rlimits", i, "resource"), std::to_string(r.resource()) + " is unknown");
    if (!seen.insert(r.resource()).second) c.fail(idx("rlimits", i, "resource"), "appears twice");
    if (r.cur() > r.max()) c.fail(idx("rlimits", i, "cur"), "soft limit is above the hard limit");
  }
  c.count("sigactions", p.sigactions_size(), 64);
  seen.clear();
  for (int i = 0; i < p.sigactions_size(); ++i) {
    const auto& s = p.sigactions(i);
    if (s.signo() < 1 || s.signo() > 64) c.fail(idx("sigactions", i, "signo"), std::to_string(s.signo()) + " is not a signal");
    if (!seen.insert(s.signo()).second) c.fail(idx("sigactions", i, "signo"), "appears twice");
    c.user_address(idx("sigactions", i, "restorer"), s.restorer(), true);
  }
  c.count("itimers", p.itimers_size(), 3);
  for (int i = 0; i < p.itimers_size(); ++i) {
    const auto& t = p.itimers(i);
    if (t.which() > 2) c.fail(idx("itimers", i, "which"), std::to_string(t.which()) + " is not an itimer");
    if (t.interval_sec() < 0 || t.value_sec() < 0 || t.interval_usec() < 0 || t.interval_usec() >= 1000000 ||
        t.value_usec() < 0 || t.value_usec() >= 1000000)
      c.fail(idx("itimers", i, "value"), "is not a valid timeval");
  }
  validate_pending(c, p.shared_pending(), "shared_pending");
  if (!p.has_mm()) c.fail("mm", "missing");
  validate_mm(c, p.mm());
  c.count("threads", p.threads_size(), ImageLimits::kMaxThreads, 1);
  seen.clear();
  for (int i = 0; i < p.threads_size(); ++i) {
    validate_thread(c, p.threads(i), i, p.pid());
    if (!seen.insert(p.threads(i).tid()).second) c.fail(idx("threads", i, "tid"), "appears twice");
  }
  validate_credentials(p, c.file());
  validate_vmas(c, p);
  validate_pages(c, p, pages, pages_name);
  validate_files(c, p);
  validate_saved_content(p, process_name);
}

}  // namespace

void validate_image(const Image& image, const std::string& process_name, const std::string& pages_name) {
  if (image.processes.empty()) throw ImageError(process_name, "processes", "no process, not even a root");
  const auto& root = image.root();
  validate_process(root.process, root.pages, process_name, pages_name);
  const auto others = std::span(image.processes).subspan(1);
  if (image.tree.processes().empty() && !others.empty())
    throw ImageError(process_name, "processes", "descendants without tree records");
  std::vector<const pb::Process*> other_processes;
  for (const auto& d : others) {
    std::string name = process_name + " (pid " + std::to_string(d.process.pid()) + ")";
    validate_process(d.process, d.pages, name, pages_name);
    // The tree's sockets are recorded once, with the root.
    if (d.process.unix_sockets_size() != 0) throw ImageError(name, "unix_sockets", "only the root of a tree records sockets");
    other_processes.push_back(&d.process);
  }
  validate_unix_sockets(root.process, process_name, other_processes);
  if (!image.tree.processes().empty()) validate_tree(image, process_name);
}

}  // namespace flakelab::engine
