#include "restore_steps.h"

#include <fcntl.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <linux/membarrier.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include "address_space.h"
#include "anon_files.h"
#include "files.h"
#include "fs_identity.h"
#include "page_copy.h"
#include "sched_attr.h"
#include "flakelab/base/rseq.h"
#include "flakelab/base/syscall_restart.h"
#include "flakelab/compel/error.h"
#include "flakelab/compel/remote_ptr.h"
#include "flakelab/compel/remote_session.h"
#include "flakelab/compel/seized_process.h"
#include "flakelab/base/unique_fd.h"
#include "flakelab/engine/error.h"
#include "logged_step.h"
#include "proc_files.h"
#include "syscall_batch.h"
#include "fifos.h"
#include "safe_open.h"
#include "saved_files.h"
#include "sigbus_guard.h"
#include "trampoline.h"
#include "vdso.h"

namespace flakelab::engine {
namespace restore_detail {

using compel::RemoteAddr;
using compel::SyscallArg;
using base::UniqueFd;

constexpr uint64_t kPage = 4096;
constexpr long kMapDroppable = 0x08;  // MAP_DROPPABLE (Linux 6.11), newer than this system's headers

// /proc/PID/exe of the restored process: only a file the image maps executable
// (same path and inode as a file-backed PROT_EXEC mapping), never just any file
// the image names (a crafted image could show /usr/bin/passwd).
UniqueFd open_exe(const pb::Process& p, const std::string& what) {
  const std::string& path = p.mm().exe_path();
  const pb::Vma* mapping = nullptr;
  for (const auto& v : p.vmas())
    if ((v.kind() == pb::VMA_FILE_PRIVATE || v.kind() == pb::VMA_FILE_SHARED) && v.saved_file() == 0 &&
        (v.prot() & PROT_EXEC) && v.path() == path && v.inode() != 0) {
      mapping = &v;
      break;
    }
  if (!mapping)
    throw EngineError(what + " " + path + ": refused: the image maps no executable file at that path (the exe link "
                      "must name a file the process runs)");
  ExpectedFile expect;
  expect.type = S_IFREG;
  expect.inode = mapping->inode();
  return open_image_path(path, O_RDONLY, expect, what);
}

// The image's addresses are the target's.
RemoteAddr start_of(const pb::Vma& v) { return RemoteAddr(v.start()); }

// Image paths are untrusted (safe_open.h): each is checked, then opened with
// the process's recorded fs identity.
void InheritedFiles::open_all(const pb::Process& p) {
  const std::string who = "restore pid " + std::to_string(p.pid()) + ": ";
  FsIdentityScope as_owner(recorded_fs_identity(p), who + "open its files");
  for (const auto& v : p.vmas()) {
    if (v.kind() != pb::VMA_FILE_PRIVATE && v.kind() != pb::VMA_FILE_SHARED) continue;
    if (v.saved_file() != 0) continue;  // recreated by TreeFiles
    int mode = mode_for(v);
    if (mapped.count({v.path(), mode})) continue;
    ExpectedFile expect;
    expect.type = S_IFREG;
    expect.inode = v.inode();
    mapped.emplace(std::make_pair(v.path(), mode), open_image_path(v.path(), mode, expect, who + "open mapped file"));
  }
  ExpectedFile dir;
  dir.type = S_IFDIR;
  cwd = lookup_image_path(p.cwd(), dir, who + "open cwd");
  exe = open_exe(p, who + "open exe");
}

user_regs_struct to_regs(const pb::GpRegs& g) {
  user_regs_struct r{};
  r.r15 = g.r15(); r.r14 = g.r14(); r.r13 = g.r13(); r.r12 = g.r12();
  r.rbp = g.rbp(); r.rbx = g.rbx(); r.r11 = g.r11(); r.r10 = g.r10();
  r.r9 = g.r9(); r.r8 = g.r8(); r.rax = g.rax(); r.rcx = g.rcx();
  r.rdx = g.rdx(); r.rsi = g.rsi(); r.rdi = g.rdi(); r.orig_rax = g.orig_rax();
  r.rip = g.rip(); r.cs = g.cs(); r.eflags = g.eflags(); r.rsp = g.rsp();
  r.ss = g.ss(); r.fs_base = g.fs_base(); r.gs_base = g.gs_base(); r.ds = g.ds();
  r.es = g.es(); r.fs = g.fs(); r.gs = g.gs();
  return r;
}

// Rebuilds the target from inside, one remote syscall at a time.
class Transmuter {
 public:
  Transmuter(spdlog::logger* log, compel::RemoteSession& session, pid_t pid, const pb::Process& p,
             const PageBytes& pages, const Trampoline& t, const InheritedFiles& files, PagesChecker* checker)
      : log_(log),
        s_(session),
        pid_(pid),
        pages_(pages),
        p_(p),
        t_(t),
        files_(files),
        checker_(checker),
        scratch_(pid, t),
        batch_(session, pid, t, "restoring pid " + std::to_string(pid)) {}

  void run() {
    {
      LoggedStep step(log_, "restore", pid_, "mappings");
      forget_rseq();
      unmap_everything_else();
      set_mm_fields();
      auto current = procfs::read_maps(pid_, false);
      std::vector<std::pair<uint64_t, uint64_t>> busy = {{t_.base.as_int(), t_.end().as_int()}};
      for (const auto& v : p_.vmas()) busy.emplace_back(v.start(), v.end());
      move_vdso_group(s_, current, p_, busy);
      map_vmas();
    }
    {
      LoggedStep step(log_, "restore", pid_, "pages");
      write_pages();
    }
    // One batch from here to the fds: none of these calls needs another's result.
    LoggedStep step(log_, "restore", pid_, "signals, attributes and fds");
    protect_vmas();
    set_signal_state();
    set_attributes();
    install_fds();
    batch_.flush();
    add_epoll_watches();
  }

 private:
  long call(const std::string& what, long nr, SyscallArg a1 = {}, SyscallArg a2 = {}, SyscallArg a3 = {},
            SyscallArg a4 = {}, SyscallArg a5 = {}, SyscallArg a6 = {}) {
    return s_.syscall_checked(what + " (restoring pid " + std::to_string(pid_) + ")", nr, a1, a2, a3, a4, a5, a6);
  }

  RemoteAddr put(const void* data, size_t size) { return scratch_.put(data, size); }
  void reset_scratch() { scratch_.reset(); }

  // The restorer's rseq area was inherited; the kernel would keep writing there.
  void forget_rseq() {
    if (auto rseq = base::rseq_configuration(pid_))
      call("rseq unregister", SYS_rseq, RemoteAddr(rseq->address), rseq->size, base::kRseqFlagUnregister,
           rseq->signature);
  }

  // Everything but the trampoline and the vDSO group, in as few munmaps as the
  // kept mappings allow: one span runs over gaps up to the next kept mapping.
  void unmap_everything_else() {
    const uint64_t lo = t_.base.as_int(), hi = t_.end().as_int();  // as the maps give them
    std::vector<std::pair<uint64_t, uint64_t>> spans;
    bool open = false;
    auto extend = [&](uint64_t a, uint64_t b) {
      if (a >= b) return;
      if (open) {
        spans.back().second = b;
      } else {
        spans.emplace_back(a, b);
        open = true;
      }
    };
    for (const auto& m : procfs::read_maps(pid_, false)) {
      if (m.path == "[vsyscall]" || m.path == "[vdso]" || m.path == "[vvar]" || m.path == "[vvar_vclock]") {
        open = false;
        continue;
      }
      extend(m.start, std::min(m.end, lo));
      if (m.end > lo && m.start < hi) open = false;  // the trampoline itself (or a mapping around it)
      extend(std::max(m.start, hi), m.end);
    }
    for (const auto& [a, b] : spans)
      batch_.add("munmap " + hex(a) + "-" + hex(b), SYS_munmap, RemoteAddr(a), b - a);
    batch_.flush();
  }

  // Before any file is mapped again: replacing the exe link is refused while the
  // old executable (the restorer's) is still mapped.
  void set_mm_fields() {
    const auto& mm = p_.mm();
    prctl_mm_map map{};
    map.start_code = mm.start_code();
    map.end_code = mm.end_code();
    map.start_data = mm.start_data();
    map.end_data = mm.end_data();
    map.start_brk = mm.start_brk();
    map.brk = mm.brk();
    map.start_stack = mm.start_stack();
    map.arg_start = mm.arg_start();
    map.arg_end = mm.arg_end();
    map.env_start = mm.env_start();
    map.env_end = mm.env_end();
    map.auxv_size = static_cast<uint32_t>(mm.auxv().size());
    // prctl_mm_map carries the target's address of its auxv copy as a pointer type.
    map.auxv = reinterpret_cast<__u64*>(map.auxv_size ? put(mm.auxv().data(), mm.auxv().size()).as_int() : 0);
    map.exe_fd = static_cast<uint32_t>(files_.exe.get());
    RemoteAddr addr = put(&map, sizeof(map));
    call("prctl PR_SET_MM_MAP", SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, addr, sizeof(map));
    reset_scratch();
  }

  void map_vmas() {
    for (const auto& v : p_.vmas()) {
      // MAP_FIXED: a successful mmap is at v.start(), so the batch checks errors only.
      if (v.kind() == pb::VMA_FILE_SHARED || v.kind() == pb::VMA_SAVED_SHARED) {
        // No pages to write: map it as it was right away.
        batch_.add("mmap " + hex(v.start()) + " " + v.name(), SYS_mmap, start_of(v), v.end() - v.start(), v.prot(),
                   MAP_SHARED | MAP_FIXED, files_.fd_for(v), v.pgoff());
        continue;
      }
      if (v.kind() != pb::VMA_ANON_PRIVATE && v.kind() != pb::VMA_FILE_PRIVATE) continue;
      // Writable first so that pages can be written; protect_vmas() finishes.
      long flags = (v.droppable() ? kMapDroppable : MAP_PRIVATE) | MAP_FIXED | (v.growsdown() ? MAP_GROWSDOWN : 0) |
                   (v.noreserve() ? MAP_NORESERVE : 0);
      long fd = -1;
      uint64_t off = 0;
      if (v.kind() == pb::VMA_ANON_PRIVATE) {
        flags |= MAP_ANONYMOUS;
      } else {
        fd = files_.fd_for(v);
        off = v.pgoff();
      }
      batch_.add("mmap " + hex(v.start()) + " " + v.name(), SYS_mmap, start_of(v), v.end() - v.start(),
                 PROT_READ | PROT_WRITE, flags, fd, off);
    }
    batch_.flush();
  }

  // A userfaultfd of the target's (it makes one, we take it with pidfd_getfd), or
  // none where the kernel refuses. User-mode only: we never handle a fault, we
  // only fill pages, and so an unprivileged restorer may have one too.
  UniqueFd target_userfaultfd() {
    long fd = s_.syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd < 0) return {};  // seccomp, an old kernel: process_vm_writev does it all
    UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
    UniqueFd ours(pidfd ? static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), fd, 0)) : -1);
    call("close (userfaultfd)", SYS_close, fd);
    uffdio_api api{};
    api.api = UFFD_API;
    if (!ours || ioctl(ours.get(), UFFDIO_API, &api) != 0) return {};
    return ours;
  }

  // The anonymous mappings' pages go in with UFFDIO_COPY (no zeroing of each page
  // before it is overwritten; fill_segments_uffd()) while the mappings are
  // registered; everything else, and whatever that left short, with
  // process_vm_writev.
  void write_pages() {
    auto segments = page_segments(p_);
    std::vector<size_t> done(segments.size(), 0);
    uint8_t* buffer = const_cast<uint8_t*>(pages_.data());  // only ever read
    // Each segment's source is checked on its first copy, just before it.
    std::vector<uint8_t> checked(segments.size(), 0);
    auto check = [&](const PageSegment& seg, size_t index) {
      if (!checker_ || checked[index]) return;
      checker_->add(buffer + seg.local_offset, seg.len);
      checked[index] = 1;
    };
    std::vector<PageSegment> filled;
    std::vector<size_t> filled_index;
    if (UniqueFd uffd = segments.empty() ? UniqueFd() : target_userfaultfd()) {
      std::vector<uffdio_range> registered;
      struct Unregister {
        int fd;
        std::vector<uffdio_range>& ranges;
        ~Unregister() {
          for (auto r : ranges) ioctl(fd, UFFDIO_UNREGISTER, &r);
        }
      } unregister{uffd.get(), registered};
      size_t i = 0;
      for (const auto& v : p_.vmas()) {
        const RemoteAddr start = start_of(v), end(v.end());
        while (i < segments.size() && segments[i].remote < start) ++i;
        if (i == segments.size() || segments[i].remote >= end || v.kind() != pb::VMA_ANON_PRIVATE) continue;
        uffdio_register reg{};
        reg.range = {v.start(), v.end() - v.start()};
        reg.mode = UFFDIO_REGISTER_MODE_MISSING;
        if (ioctl(uffd.get(), UFFDIO_REGISTER, &reg) != 0) continue;  // process_vm_writev will do
        registered.push_back(reg.range);
        for (; i < segments.size() && segments[i].remote < end; ++i) {
          filled.push_back(segments[i]);
          filled_index.push_back(i);
        }
      }
      auto got = fill_segments_uffd(uffd.get(), buffer, filled,
                                    [&](size_t k) { check(filled[k], filled_index[k]); });
      for (size_t k = 0; k < filled.size(); ++k) done[filled_index[k]] = got[k];
    }  // unregistered: a fault in these mappings is an ordinary one again
    std::vector<PageSegment> rest;
    std::vector<size_t> rest_index;
    for (size_t i = 0; i < segments.size(); ++i) {
      if (done[i] == segments[i].len) continue;
      size_t from = done[i] / kPage * kPage;
      rest.push_back({segments[i].remote + from, segments[i].len - from, segments[i].local_offset + from});
      rest_index.push_back(i);
      done[i] = from;
    }
    auto got = copy_segments(pid_, buffer, rest, CopyDirection::kToProcess,
                             [&](size_t k) { check(segments[rest_index[k]], rest_index[k]); });
    for (size_t k = 0; k < rest.size(); ++k) done[rest_index[k]] += got[k];
    for (size_t i = 0; i < segments.size(); ++i)
      if (done[i] != segments[i].len)
        throw_errno("process_vm_writev pid " + std::to_string(pid_) + " (pages at " +
                        hex((segments[i].remote + done[i]).as_int()) + ")",
                    EFAULT);
  }

  void protect_vmas() {
    for (const auto& v : p_.vmas()) {
      if (v.kind() != pb::VMA_ANON_PRIVATE && v.kind() != pb::VMA_FILE_PRIVATE) continue;
      if (v.prot() == (PROT_READ | PROT_WRITE)) continue;
      batch_.add("mprotect " + hex(v.start()), SYS_mprotect, start_of(v), v.end() - v.start(), v.prot());
    }
    advise_vmas();
  }

  // madvise() flags and mlock, once the pages are in (they change nothing in them).
  void advise_vmas() {
    for (const auto& v : p_.vmas()) {
      for (int advice = 0; advice < 64; ++advice)
        if (v.advice() & (uint64_t{1} << advice))
          batch_.add("madvise " + hex(v.start()) + " " + std::to_string(advice), SYS_madvise, start_of(v),
                     v.end() - v.start(), advice);
      if (v.locked()) batch_.add("mlock " + hex(v.start()), SYS_mlock, start_of(v), v.end() - v.start());
    }
  }

  void set_signal_state() {
    std::map<uint32_t, const pb::SigAction*> saved;
    for (const auto& sa : p_.sigactions()) saved[sa.signo()] = &sa;
    // Every signal, so that no handler inherited from the restorer survives.
    for (uint32_t sig = 1; sig <= 64; ++sig) {
      if (sig == SIGKILL || sig == SIGSTOP) continue;
      struct {
        uint64_t handler, flags, restorer, mask;
      } ksa{};  // SIG_DFL unless saved
      if (auto it = saved.find(sig); it != saved.end())
        ksa = {it->second->handler(), it->second->flags(), it->second->restorer(), it->second->mask()};
      RemoteAddr addr = batch_.put(&ksa, sizeof(ksa));
      batch_.add("rt_sigaction " + std::to_string(sig), SYS_rt_sigaction, sig, addr, 0, 8);
    }
    for (const auto& it : p_.itimers()) {
      itimerval v{{it.interval_sec(), it.interval_usec()}, {it.value_sec(), it.value_usec()}};
      batch_.add("setitimer " + std::to_string(it.which()), SYS_setitimer, it.which(),
                 batch_.put(&v, sizeof(v)), 0);
    }
  }

  // Puts every saved fd in place (dup3 from the inherited copies, which all sit
  // above the highest saved number), then closes everything else the target
  // inherited from the restorer.
  void install_fds() {
    std::vector<uint32_t> keep;
    for (const auto& fd : p_.fds()) {
      batch_.add("dup3 to fd " + std::to_string(fd.fd()), SYS_dup3, files_.tree->file_fd(p_, fd.file()), fd.fd(),
                 fd.cloexec() ? O_CLOEXEC : 0);
      keep.push_back(fd.fd());
    }
    std::sort(keep.begin(), keep.end());
    uint64_t from = 0;
    for (uint32_t k : keep) {
      if (k > from) batch_.add("close_range", SYS_close_range, from, k - 1, 0);
      from = uint64_t{k} + 1;
    }
    batch_.add("close_range", SYS_close_range, from, ~0u, 0);
  }

  // Needs every fd in place: watches are keyed by the target's fd numbers.
  void add_epoll_watches() {
    restore_epoll_watches(files_.tree->epoll_view(p_), TargetCalls{
                                  [this](const std::string& what, long nr, long a1, long a2, long a3, long a4) {
                                    return call(what, nr, a1, a2, a3, a4);
                                  },
                                  // TargetCalls speaks integers.
                                  [this](const void* data, size_t size) { return put(data, size).as_int(); },
                                  [this] { reset_scratch(); },
                              });
  }

  void set_attributes() {
    batch_.add("fchdir", SYS_fchdir, files_.cwd.get());
    batch_.add("umask", SYS_umask, p_.umask());
    batch_.add("personality", SYS_personality, p_.personality());
    std::string comm = p_.comm();
    batch_.add("prctl PR_SET_NAME", SYS_prctl, PR_SET_NAME, batch_.put(comm.c_str(), comm.size() + 1));
    batch_.add("prctl PR_SET_PDEATHSIG", SYS_prctl, PR_SET_PDEATHSIG, p_.pdeath_signal());
    // Inherited from the restorer otherwise; the two prctls are per process.
    batch_.add("prctl PR_SET_CHILD_SUBREAPER", SYS_prctl, PR_SET_CHILD_SUBREAPER, p_.child_subreaper() ? 1 : 0);
    batch_.add("prctl PR_SET_THP_DISABLE", SYS_prctl, PR_SET_THP_DISABLE, p_.thp_disable() & 1, p_.thp_disable() & ~1u, 0,
               0);
    // The address space is new (a fork resets the registrations): each one again.
    for (uint32_t cmd : {MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                         MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
                         MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ})
      if (p_.membarrier_registrations() & cmd)
        batch_.add("membarrier register " + std::to_string(cmd), SYS_membarrier, cmd, 0, 0);
    set_oom_score_adj();
  }

  // Written by the restorer: the file takes writes from any process allowed to
  // ptrace it. Lowering it below the restorer's own needs CAP_SYS_RESOURCE.
  void set_oom_score_adj() {
    const std::string path = "/proc/" + std::to_string(pid_) + "/oom_score_adj";
    const std::string value = std::to_string(p_.oom_score_adj());
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd || ::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
      throw_errno("restore pid " + std::to_string(pid_) + ": write oom_score_adj " + value + " to " + path);
  }

  spdlog::logger* log_;
  compel::RemoteSession& s_;
  pid_t pid_;
  const PageBytes& pages_;
  const pb::Process& p_;
  Trampoline t_;
  const InheritedFiles& files_;
  PagesChecker* checker_;
  Scratch scratch_;
  SyscallBatch batch_;  // flushed before scratch_ is used again: both write the scratch area
};

void PagesChecker::add(const uint8_t* data, size_t len) {
  uint32_t crc = 0;
  std::string why;
  if (data < pages_.payload || len > pages_.size || static_cast<uint64_t>(data - pages_.payload) > pages_.size - len)
    why = "pages that are not part of the payload were to be checked";
  else if (!mapped_crc32c(data, len, &crc))
    why = "file shrank while it was read";
  if (why.empty()) {
    crcs_.add(static_cast<uint64_t>(data - pages_.payload), len, crc);
    return;
  }
  std::lock_guard lock(mutex_);
  if (problem_.empty()) problem_ = why;
}

void PagesChecker::verify() {
  {
    std::lock_guard lock(mutex_);
    if (!problem_.empty()) throw ImageError(pages_.file, "payload_len", problem_);
  }
  std::string why;
  uint32_t crc = crcs_.whole(pages_.size, &why);
  if (!why.empty()) throw ImageError(pages_.file, "payload_len", "the processes' pages do not cover the payload: " + why);
  if (crc != pages_.crc) throw ImageError(pages_.file, "payload_crc", "payload checksum mismatch (file is corrupt)");
}

void transmute(spdlog::logger* log, compel::RemoteSession& session, pid_t pid, const pb::Process& p, const PageBytes& pages,
               const Trampoline& t, const InheritedFiles& files, PagesChecker* checker) {
  Transmuter(log, session, pid, p, pages, t, files, checker).run();
}

long spawn_with_tid(compel::SeizedThread& leader, pid_t pid, const Trampoline& t, clone_args args, pid_t tid,
                    const std::string& what, bool process) {
  Scratch scratch(pid, t);
  pid_t want = tid;
  args.set_tid = scratch.put(&want, sizeof(want)).as_int();
  args.set_tid_size = 1;
  RemoteAddr args_addr = scratch.put(&args, sizeof(args));
  user_regs_struct regs = leader.get_regs();
  regs.rip = (t.base + kSpawnOffset).as_int();
  regs.rax = SYS_clone3;
  regs.orig_rax = static_cast<uint64_t>(-1);
  regs.rdi = args_addr.as_int();
  regs.rsi = sizeof(args);
  regs.r12 = process ? static_cast<uint64_t>(pid) : 0;  // the parent the new process checks for
  leader.set_regs(regs);
  leader.resume();
  int status = leader.wait_stop();
  if ((status >> 16) != 0 || WSTOPSIG(status) != SIGTRAP)
    throw EngineError("restore pid " + std::to_string(pid) + ": unexpected stop (status " +
                      hex(static_cast<uint64_t>(status)) + ") while creating " + what);
  return static_cast<long>(leader.get_regs().rax);
}

// Creates thread `tid` in the target: the leader runs clone3(set_tid) from the
// trampoline's spawn snippet and traps back; the new thread sleeps in pause().
std::unique_ptr<compel::SeizedThread> spawn_thread(compel::SeizedThread& leader, pid_t pid, pid_t tid,
                                                   const Trampoline& t) {
  clone_args args{};
  args.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
  long r = spawn_with_tid(leader, pid, t, args, tid, "thread " + std::to_string(tid), /*process=*/false);
  if (r < 0) throw_errno("restore pid " + std::to_string(pid) + ": remote clone3 set_tid " + std::to_string(tid), static_cast<int>(-r));
  if (r != tid)
    throw EngineError("restore pid " + std::to_string(pid) + ": clone3 gave tid " + std::to_string(r) + ", not " +
                      std::to_string(tid));
  auto th = std::make_unique<compel::SeizedThread>(pid, tid);
  if (!th->wait_initial_stop())
    throw EngineError("restore pid " + std::to_string(pid) + ": new thread " + std::to_string(tid) + " exited");
  return th;
}

// From the restorer (sched_setattr on the tid); a real-time policy or a lower
// nice needs CAP_SYS_NICE, and its refusal fails the restore.
static void set_scheduling(pid_t pid, const pb::Thread& t) {
  const pb::SchedAttr& s = t.sched();
  KernelSchedAttr attr{};
  attr.sched_policy = s.policy();
  attr.sched_flags = s.flags();
  attr.sched_nice = s.nice();
  attr.sched_priority = s.priority();
  attr.sched_runtime = s.runtime();
  attr.sched_deadline = s.deadline();
  attr.sched_period = s.period();
  if (syscall(SYS_sched_setattr, t.tid(), &attr, 0) != 0)
    throw_errno("restore pid " + std::to_string(pid) + " tid " + std::to_string(t.tid()) + ": sched_setattr policy " +
                std::to_string(s.policy()) + " nice " + std::to_string(s.nice()) + " priority " +
                std::to_string(s.priority()));
}

// Per-thread kernel state that only the thread itself can set. Queued signals go
// back last: the kernel takes forged siginfo (si_code >= 0) only from the target
// thread itself; compel keeps every signal blocked meanwhile, so they stay queued.
void restore_thread_state(compel::SeizedThread& th, pid_t pid, const pb::Thread& t, const Trampoline& tr,
                          const pb::Process* leader_of) {
  compel::RemoteSession s(th);
  Scratch scratch(pid, tr);
  std::string what = " (restoring tid " + std::to_string(t.tid()) + ")";
  if (t.has_sched()) set_scheduling(pid, t);
  s.syscall_checked("set_tid_address" + what, SYS_set_tid_address, RemoteAddr(t.clear_child_tid()));
  stack_t ss{};
  if (t.has_altstack() && !(t.altstack().flags() & SS_DISABLE)) {
    ss.ss_sp = reinterpret_cast<void*>(t.altstack().sp());  // stack_t holds the target's address as a void*
    ss.ss_size = t.altstack().size();
    ss.ss_flags = t.altstack().flags() & ~SS_ONSTACK;
  } else {
    ss.ss_flags = SS_DISABLE;
  }
  s.syscall_checked("sigaltstack" + what, SYS_sigaltstack, scratch.put(&ss, sizeof(ss)), 0);
  if (t.robust_list() != 0)
    s.syscall_checked("set_robust_list" + what, SYS_set_robust_list, RemoteAddr(t.robust_list()), t.robust_list_len());
  if (t.has_rseq() && t.rseq().size() != 0)
    s.syscall_checked("rseq register" + what, SYS_rseq, RemoteAddr(t.rseq().address()), t.rseq().size(), 0,
                      t.rseq().signature());
  scratch.reset();
  if (leader_of) {
    for (const auto& sig : leader_of->shared_pending()) {
      RemoteAddr info = scratch.put(sig.siginfo().data(), sig.siginfo().size());
      s.syscall_checked("rt_sigqueueinfo " + std::to_string(sig.signo()) + what, SYS_rt_sigqueueinfo, pid, sig.signo(),
                        info);
      scratch.reset();
    }
  }
  for (const auto& sig : t.pending()) {
    RemoteAddr info = scratch.put(sig.siginfo().data(), sig.siginfo().size());
    s.syscall_checked("rt_tgsigqueueinfo " + std::to_string(sig.signo()) + what, SYS_rt_tgsigqueueinfo, pid,
                      t.tid(), sig.signo(), info);
    scratch.reset();
  }
  s.settle();
}

// The thread's own registers, XSTATE and mask; it runs them once detached.
void load_thread_registers(compel::SeizedThread& th, const pb::Thread& t) {
  th.set_regs(base::registers_to_resume(to_regs(t.gp()), base::ResumeContext::kRestored));
  th.set_xstate(std::vector<uint8_t>(t.xstate().begin(), t.xstate().end()));
  th.set_sigmask(t.blocked());
}

// "" once the new process reports from its trampoline, else why not.
std::string wait_ready(int fd) {
  pollfd pfd{fd, POLLIN, 0};
  int r;
  do {
    r = ::poll(&pfd, 1, 5000);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return "it did not report within 5 s";
  char c = 0;
  if (r < 0 || ::read(fd, &c, 1) != 1 || c != 'R') return "it exited (could its trampoline not be mapped?)";
  return "";
}

// Removes the trampoline with a munmap issued by the leader from the vDSO (the
// trampoline cannot unmap itself and return). The leader is left in a syscall-exit
// stop; no thread executes trampoline code again.
void leave_trampoline(compel::SeizedThread& th, const Trampoline& t, const pb::Process& p) {
  RemoteAddr vdso;
  for (const auto& v : p.vmas())
    if (v.kind() == pb::VMA_VDSO) vdso = start_of(v);
  if (vdso.is_null()) throw EngineError("restore pid " + std::to_string(p.pid()) + ": images without a vDSO are not supported yet");
  user_regs_struct regs = th.get_regs();
  regs.rip = (vdso + vdso_syscall_offset()).as_int();
  regs.rax = SYS_munmap;
  regs.orig_rax = static_cast<uint64_t>(-1);
  regs.rdi = t.base.as_int();
  regs.rsi = Trampoline::kSize;
  th.set_regs(regs);
  for (int stop = 0; stop < 2; ++stop) {  // syscall entry, then exit
    th.resume_syscall();
    int status = th.wait_stop();
    if (WSTOPSIG(status) != (SIGTRAP | 0x80))
      throw EngineError("restore pid " + std::to_string(p.pid()) + ": unexpected stop (status " + hex(status) +
                        ") while leaving the trampoline");
  }
  long r = static_cast<long>(th.get_regs().rax);
  if (r != 0) throw_errno("restore pid " + std::to_string(p.pid()) + ": munmap trampoline", static_cast<int>(-r));
}

void set_rlimits(pid_t pid, const pb::Process& p) {
  for (const auto& r : p.rlimits()) {
    struct rlimit lim{r.cur(), r.max()};
    if (prlimit(pid, static_cast<__rlimit_resource>(r.resource()), &lim, nullptr) != 0)
      throw_errno("prlimit pid " + std::to_string(pid) + " resource " + std::to_string(r.resource()));
  }
}

std::vector<Range> busy_ranges(const std::vector<const pb::Process*>& processes) {
  std::vector<Range> busy;
  for (const auto& m : procfs::read_maps(getpid(), false)) busy.push_back({m.start, m.end});
  for (const pb::Process* p : processes)
    for (const auto& v : p->vmas()) busy.push_back({v.start(), v.end()});
  return busy;
}

}  // namespace restore_detail
}  // namespace flakelab::engine
