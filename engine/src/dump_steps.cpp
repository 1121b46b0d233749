#include "dump_steps.h"

#include <fcntl.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include <fmt/format.h>

#include "flakelab/base/rseq.h"
#include "flakelab/compel/error.h"
#include "flakelab/compel/parasite.h"
#include "flakelab/compel/proc.h"
#include "flakelab/compel/remote_memory.h"
#include "flakelab/compel/remote_session.h"
#include "flakelab/compel/seized_process.h"
#include "flakelab/base/unique_fd.h"
#include "creds_dump.h"
#include "logged_step.h"
#include "flakelab/engine/error.h"
#include "files.h"
#include "fs_identity.h"
#include "pages_file_writer.h"
#include "page_copy.h"
#include "pagemap.h"
#include "proc_files.h"
#include "sched_attr.h"
#include "process_refusals.h"
#include "saved_files.h"

namespace flakelab::engine {
namespace {

constexpr uint64_t kPage = 4096;
// <linux/membarrier.h> of Linux 6.3; this system's header predates it.
constexpr int kMembarrierGetRegistrations = 1 << 9;

std::string pid_text(pid_t pid) { return "pid " + std::to_string(pid); }

pb::VmaKind classify(const procfs::MapEntry& m) {
  if (m.path == "[vdso]") return pb::VMA_VDSO;
  if (m.path == "[vvar]") return pb::VMA_VVAR;
  if (m.path == "[vvar_vclock]") return pb::VMA_VVAR_VCLOCK;
  // Shared anonymous memory, memfds, unlinked files: their contents go into the image.
  if (is_saved_mapping(m)) return m.shared ? pb::VMA_SAVED_SHARED : pb::VMA_FILE_PRIVATE;
  const std::string deleted = " (deleted)";
  bool named_file = m.inode != 0 && !m.path.empty() && m.path[0] == '/' &&
                    !(m.path.size() > deleted.size() &&
                      m.path.compare(m.path.size() - deleted.size(), deleted.size(), deleted) == 0);
  if (m.shared) return named_file ? pb::VMA_FILE_SHARED : pb::VMA_UNKNOWN;
  bool anon_name = m.path.empty() || m.path == "[heap]" || m.path == "[stack]" || m.path.rfind("[anon:", 0) == 0;
  if (m.inode == 0 && anon_name) return pb::VMA_ANON_PRIVATE;
  return named_file ? pb::VMA_FILE_PRIVATE : pb::VMA_UNKNOWN;
}

// Everything this slice cannot dump, checked from /proc without touching the
// process. Returns "" if the process is dumpable.
// `seized`: we are its tracer now, so its state letter says nothing about it.
std::string unsupported(pid_t pid, const std::vector<procfs::MapEntry>& maps, bool seized,
                        const std::vector<pid_t>& tree = {}) {
  auto threads = compel::proc::list_threads(pid);
  if (threads.empty()) return pid_text(pid) + " does not exist";
  if (threads.size() > ImageLimits::kMaxThreads)
    return pid_text(pid) + " has " + std::to_string(threads.size()) + " threads; at most " +
           std::to_string(ImageLimits::kMaxThreads) + " are supported";
  if (std::string why = check_unsaved_process_state(pid); !why.empty()) return why;
  if (std::string why = check_files(pid, tree); !why.empty()) return why;
  if (std::string why = check_credentials_dumpable(pid); !why.empty()) return why;
  for (const auto& m : maps) {
    if (m.path == "[vsyscall]") continue;
    if (classify(m) != pb::VMA_ANON_PRIVATE && std::find(m.vm_flags.begin(), m.vm_flags.end(), "dp") != m.vm_flags.end())
      return pid_text(pid) + " mapping " + m.describe() + ": a droppable mapping that is not anonymous is not supported";
    if (classify(m) == pb::VMA_UNKNOWN)
      return pid_text(pid) + " mapping " + m.describe() + ": " +
             (m.path.rfind("/SYSV", 0) == 0 ? "SysV shared memory (shmat) is" : "this kind of mapping is") +
             " not supported yet";
    if ((classify(m) == pb::VMA_FILE_PRIVATE || classify(m) == pb::VMA_FILE_SHARED) && !is_saved_mapping(m)) {
      struct stat st;
      if (::stat(m.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_ino != m.inode)
        return pid_text(pid) + " mapping " + m.describe() + ": the file is not a regular file reachable by its path";
    }
  }
  if (std::string why = check_saved_files(pid, maps); !why.empty()) return why;
  if (seized) return "";
  return "";
}

uint64_t stat_u64(const std::vector<std::string>& f, size_t field_no) {
  // field_no is 1-based as in proc(5); f[0] is field 3.
  if (field_no < 3 || field_no - 3 >= f.size()) throw EngineError("/proc/PID/stat: missing field " + std::to_string(field_no));
  return std::stoull(f[field_no - 3]);
}

void set_gp(pb::GpRegs* g, const user_regs_struct& r) {
  g->set_r15(r.r15); g->set_r14(r.r14); g->set_r13(r.r13); g->set_r12(r.r12);
  g->set_rbp(r.rbp); g->set_rbx(r.rbx); g->set_r11(r.r11); g->set_r10(r.r10);
  g->set_r9(r.r9); g->set_r8(r.r8); g->set_rax(r.rax); g->set_rcx(r.rcx);
  g->set_rdx(r.rdx); g->set_rsi(r.rsi); g->set_rdi(r.rdi); g->set_orig_rax(r.orig_rax);
  g->set_rip(r.rip); g->set_cs(r.cs); g->set_eflags(r.eflags); g->set_rsp(r.rsp);
  g->set_ss(r.ss); g->set_fs_base(r.fs_base); g->set_gs_base(r.gs_base); g->set_ds(r.ds);
  g->set_es(r.es); g->set_fs(r.fs); g->set_gs(r.gs);
}

// /proc/PID/mem, opened on first use (by any of the copying threads): it reads
// what process_vm_readv refuses, such as PROT_NONE pages.
class ProcMem {
 public:
  explicit ProcMem(pid_t pid) : path_("/proc/" + std::to_string(pid) + "/mem") {}

  // Bytes [from, len) of `seg` into `dst`, a page at a time.
  void read(const PageSegment& seg, size_t from, uint8_t* dst) {
    int fd = get();
    for (size_t off = from; off < seg.len; off += kPage) {
      compel::RemoteAddr addr = seg.remote + off;
      // /proc/PID/mem's file offset is the address.
      ssize_t n = ::pread(fd, dst + (off - from), kPage, static_cast<off_t>(addr.as_int()));
      if (n != static_cast<ssize_t>(kPage))
        throw_errno(fmt::format("read {} at {}", path_, addr), n < 0 ? errno : EIO);
    }
  }

 private:
  int get() {
    std::lock_guard lock(mutex_);
    if (!fd_) {
      fd_.reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd_) throw_errno("open " + path_);
    }
    return fd_.get();
  }

  std::string path_;
  std::mutex mutex_;
  base::UniqueFd fd_;
};

// Copies the page runs of `image` out of the process: process_vm_readv (on
// several threads for large images), then /proc/PID/mem page by page for
// whatever it refused. Into image.pages, or with `pages_to` into that file at
// payload offset `pages_at`, without holding them in memory.
void read_pages(pid_t pid, ProcessImage& image, PagesFileWriter* pages_to, uint64_t pages_at) {
  auto segments = page_segments(image.process);
  ProcMem mem(pid);
  if (pages_to) {
    read_segments_through(
        pid, segments, [&](const PageSegment& seg, size_t from, uint8_t* dst) { mem.read(seg, from, dst); },
        [&](size_t offset, std::span<const uint8_t> bytes, uint32_t crc) { pages_to->put(pages_at + offset, bytes, crc); },
        DirectPages{[&](size_t offset, size_t len) { return pages_to->window(pages_at + offset, len); },
                    [&](size_t offset, const uint8_t* data, size_t len) { pages_to->placed(pages_at + offset, data, len); }});
    return;
  }
  image.pages.resize(image.process.pages_bytes());
  auto done = copy_segments(pid, image.pages.data(), segments, CopyDirection::kFromProcess);
  for (size_t i = 0; i < segments.size(); ++i) {
    const auto& seg = segments[i];
    size_t from = done[i] / kPage * kPage;
    if (from < seg.len) mem.read(seg, from, image.pages.data() + seg.local_offset + from);
  }
}

// The VmFlags words that madvise() sets, with the advice that sets each.
struct AdviceFlag {
  const char* word;
  int advice;
};
constexpr AdviceFlag kAdviceFlags[] = {
    {"sr", MADV_SEQUENTIAL}, {"rr", MADV_RANDOM},   {"dc", MADV_DONTFORK},   {"dd", MADV_DONTDUMP},
    {"mg", MADV_MERGEABLE},  {"hg", MADV_HUGEPAGE}, {"nh", MADV_NOHUGEPAGE}, {"wf", MADV_WIPEONFORK},
};

void record_vm_flags(const procfs::MapEntry& m, pb::Vma* v) {
  uint64_t advice = 0;
  for (const std::string& word : m.vm_flags) {
    for (const AdviceFlag& a : kAdviceFlags)
      if (word == a.word) advice |= uint64_t{1} << a.advice;
    if (word == "lo") v->set_locked(true);
    if (word == "dp") v->set_droppable(true);
  }
  // A droppable mapping is wipe-on-fork and dont-dump by itself.
  if (v->droppable()) advice &= ~((uint64_t{1} << MADV_WIPEONFORK) | (uint64_t{1} << MADV_DONTDUMP));
  v->set_advice(advice);
}

void dump_memory(pid_t pid, const std::vector<procfs::MapEntry>& maps, ProcessImage& image, PagesFileWriter* pages_to,
                 uint64_t pages_at) {
  Pagemap pagemap(pid);
  uint64_t total = 0;
  for (const auto& m : maps) {
    if (m.path == "[vsyscall]") continue;
    auto kind = classify(m);
    auto* v = image.process.add_vmas();
    v->set_start(m.start);
    v->set_end(m.end);
    v->set_prot(m.prot);
    v->set_kind(kind);
    v->set_name(m.path);
    v->set_growsdown(m.growsdown);
    v->set_noreserve(m.noreserve);
    v->set_maywrite(m.maywrite);
    record_vm_flags(m, v);
    if (kind == pb::VMA_FILE_PRIVATE || kind == pb::VMA_FILE_SHARED) {
      v->set_path(m.path);
      v->set_pgoff(m.pgoff);
      v->set_inode(m.inode);
    }
    if (kind != pb::VMA_ANON_PRIVATE && kind != pb::VMA_FILE_PRIVATE) continue;
    // The kernel may drop a droppable mapping's pages at any time; as CRIU, the
    // image keeps none (zdtm maps11 checks they are zero after a restore).
    if (v->droppable()) continue;
    for (const auto& r : pagemap.private_pages(m.start, m.end)) {
      auto* run = image.process.add_pages();
      run->set_vaddr(r.start);
      run->set_nr_pages((r.end - r.start) / kPage);
      total += r.end - r.start;
    }
  }
  image.process.set_pages_bytes(total);
  read_pages(pid, image, pages_to, pages_at);
}

// Resource `r` from /proc/PID/limits, whose rows are in resource order:
// "Max open files            1024                 4096                 files".
struct rlimit limit_from_proc(pid_t pid, int r) {
  const std::string path = "/proc/" + std::to_string(pid) + "/limits";
  std::string text = procfs::read_file(path);
  size_t at = text.find('\n');  // the header
  for (int row = 0; row < r && at != std::string::npos; ++row) at = text.find('\n', at + 1);
  if (at == std::string::npos) throw EngineError(path + ": no row for resource " + std::to_string(r));
  std::string line = text.substr(at + 1, text.find('\n', at + 1) - at - 1);
  // The name is padded to 26 columns; then soft and hard limit.
  if (line.size() < 26) throw EngineError(path + ": row \"" + line + "\" is too short");
  auto words = procfs::split_words(std::string_view(line).substr(26));
  auto value = [&](size_t i) -> rlim_t {
    if (i >= words.size()) throw EngineError(path + ": row \"" + line + "\" has no limits");
    if (words[i] == "unlimited") return RLIM_INFINITY;
    if (words[i].find_first_not_of("0123456789") != std::string_view::npos)
      throw EngineError(path + ": row \"" + line + "\" holds no number");
    return std::stoull(std::string(words[i]));
  };
  return {value(0), value(1)};
}

void dump_attributes(pid_t pid, ProcessImage& image) {
  pb::Process& p = image.process;
  std::string base = "/proc/" + std::to_string(pid);
  p.set_pid(static_cast<uint32_t>(pid));
  std::string comm = procfs::read_file(base + "/comm");
  if (!comm.empty() && comm.back() == '\n') comm.pop_back();
  p.set_comm(comm);
  p.set_cwd(procfs::read_link(base + "/cwd"));
  record_fs_identity(read_fs_identity(pid), p);  // restore opens the image's paths with it
  p.set_umask(static_cast<uint32_t>(std::stoul(procfs::status_field(pid, "Umask"), nullptr, 8)));
  p.set_personality(static_cast<uint32_t>(std::stoul(procfs::read_file(base + "/personality"), nullptr, 16)));
  p.set_oom_score_adj(std::stoi(procfs::read_file(base + "/oom_score_adj")));
  for (int r = 0; r < RLIM_NLIMITS; ++r) {
    struct rlimit lim;
    if (prlimit(pid, static_cast<__rlimit_resource>(r), nullptr, &lim) != 0) {
      // A process of another uid, and no CAP_SYS_RESOURCE here: its limits file tells.
      if (errno != EPERM) throw_errno("prlimit " + pid_text(pid) + " resource " + std::to_string(r));
      lim = limit_from_proc(pid, r);
    }
    auto* rl = p.add_rlimits();
    rl->set_resource(static_cast<uint32_t>(r));
    rl->set_cur(lim.rlim_cur);
    rl->set_max(lim.rlim_max);
  }
  auto f = procfs::stat_fields(pid);
  auto* mm = p.mutable_mm();
  mm->set_start_code(stat_u64(f, 26));
  mm->set_end_code(stat_u64(f, 27));
  mm->set_start_stack(stat_u64(f, 28));
  mm->set_start_data(stat_u64(f, 45));
  mm->set_end_data(stat_u64(f, 46));
  mm->set_start_brk(stat_u64(f, 47));
  mm->set_arg_start(stat_u64(f, 48));
  mm->set_arg_end(stat_u64(f, 49));
  mm->set_env_start(stat_u64(f, 50));
  mm->set_env_end(stat_u64(f, 51));
  std::string auxv = procfs::read_file(base + "/auxv");
  // The kernel pads auxv with AT_NULL entries; keep it up to and incl. the first.
  for (size_t i = 0; i + 16 <= auxv.size(); i += 16) {
    uint64_t key;
    std::memcpy(&key, auxv.data() + i, 8);
    if (key == 0) {
      auxv.resize(i + 16);
      break;
    }
  }
  mm->set_auxv(auxv);
  mm->set_exe_path(procfs::read_link(base + "/exe"));
}

// A stopped thread's queued signals, without dequeuing them.
void peek_pending(pid_t tid, bool shared, google::protobuf::RepeatedPtrField<pb::PendingSignal>* out) {
  struct {
    uint64_t off;
    uint32_t flags;
    int32_t nr;
  } args{0, shared ? static_cast<uint32_t>(PTRACE_PEEKSIGINFO_SHARED) : 0u, 64};
  siginfo_t buf[64];
  for (;;) {
    long n = ptrace(PTRACE_PEEKSIGINFO, tid, &args, buf);
    if (n < 0) throw_errno("PTRACE_PEEKSIGINFO tid " + std::to_string(tid));
    if (n == 0) return;
    for (long i = 0; i < n; ++i) {
      auto* s = out->Add();
      s->set_signo(static_cast<uint32_t>(buf[i].si_signo));
      s->set_siginfo(std::string(reinterpret_cast<const char*>(&buf[i]), sizeof(siginfo_t)));
    }
    args.off += static_cast<uint64_t>(n);
  }
}

// Scheduling is per thread, and readable from here (sched_getattr on the tid).
void dump_scheduling(pid_t tid, pb::SchedAttr* out) {
  KernelSchedAttr attr{};
  if (syscall(SYS_sched_getattr, tid, &attr, sizeof(attr), 0) != 0)
    throw_errno("sched_getattr tid " + std::to_string(tid));
  out->set_policy(attr.sched_policy);
  out->set_flags(attr.sched_flags & kSchedFlagResetOnFork);
  out->set_nice(attr.sched_nice);
  out->set_priority(attr.sched_priority);
  out->set_runtime(attr.sched_runtime);
  out->set_deadline(attr.sched_deadline);
  out->set_period(attr.sched_period);
}

void dump_thread(compel::SeizedThread& th, pb::Thread* t) {
  t->set_tid(static_cast<uint32_t>(th.tid()));
  compel::RemoteSession session(th);
  // One remote call lets a thread in sigsuspend put its real mask back (see
  // RemoteSession::arm); the mask compel then saved is the one to keep.
  session.syscall_checked("getpid", SYS_getpid);
  set_gp(t->mutable_gp(), session.original_regs());
  const auto& xs = session.original_xstate();
  t->set_xstate(std::string(xs.begin(), xs.end()));
  t->set_blocked(th.original_sigmask());
  session.settle();

  if (auto rseq = base::rseq_configuration(th.tid())) {
    auto* r = t->mutable_rseq();
    r->set_address(rseq->address);
    r->set_size(rseq->size);
    r->set_signature(rseq->signature);
  }
  uint64_t head = 0;
  size_t len = 0;
  if (syscall(SYS_get_robust_list, th.tid(), &head, &len) != 0)
    throw_errno("get_robust_list tid " + std::to_string(th.tid()));
  t->set_robust_list(head);
  t->set_robust_list_len(len);
  dump_scheduling(th.tid(), t->mutable_sched());
  peek_pending(th.tid(), false, t->mutable_pending());
}

void dump_signals(compel::SeizedProcess& proc, ProcessImage& image) {
  compel::Parasite parasite(proc, compel::default_parasite_blob());
  for (const auto& sa : parasite.get_sigactions()) {
    auto* s = image.process.add_sigactions();
    s->set_signo(static_cast<uint32_t>(sa.signo));
    s->set_handler(sa.handler);
    s->set_flags(sa.flags);
    s->set_restorer(sa.restorer);
    s->set_mask(sa.mask);
  }
  auto timers = parasite.get_itimers();
  for (size_t i = 0; i < timers.size(); ++i) {
    const auto& t = timers[i];
    bool value_zero = t.value.tv_sec == 0 && t.value.tv_usec == 0;
    bool interval_zero = t.interval.tv_sec == 0 && t.interval.tv_usec == 0;
    if (value_zero && interval_zero) continue;  // disarmed
    // A periodic ITIMER_REAL whose SIGALRM is still pending reads as value 0: the
    // kernel re-arms it only when the signal is dequeued (dequeue_signal). Restore
    // it armed for one interval, or it would never fire again after restore (the
    // re-queued SIGALRM would find nothing to re-arm). Found by cr/attrs cycles.
    auto value = value_zero ? t.interval : t.value;
    auto* it = image.process.add_itimers();
    it->set_which(static_cast<uint32_t>(i));
    it->set_interval_sec(t.interval.tv_sec);
    it->set_interval_usec(t.interval.tv_usec);
    it->set_value_sec(value.tv_sec);
    it->set_value_usec(value.tv_usec);
  }
  parasite.cure();
}

// Per-thread state only the thread itself can tell (sigaltstack, clear_child_tid),
// asked through remote syscalls that write into the session's scratch area (in
// the return frame below the thread's stack pointer): no mapping is made in the
// victim, so none can be left behind.
void dump_thread_extras(pid_t pid, const std::vector<compel::SeizedThread*>& threads, ProcessImage& image) {
  for (size_t i = 0; i < threads.size(); ++i) {
    compel::RemoteSession s(*threads[i]);
    const compel::RemoteAddr scratch = s.scratch_area();
    s.syscall_checked("sigaltstack", SYS_sigaltstack, 0, scratch);
    s.syscall_checked("prctl PR_GET_TID_ADDRESS", SYS_prctl, PR_GET_TID_ADDRESS, scratch + 32);
    if (i == 0) {
      s.syscall_checked("prctl PR_GET_PDEATHSIG", SYS_prctl, PR_GET_PDEATHSIG, scratch + 40);
      s.syscall_checked("prctl PR_GET_CHILD_SUBREAPER", SYS_prctl, PR_GET_CHILD_SUBREAPER, scratch + 44);
      // Per address space, so the leader's answer is the process's.
      const long thp = s.syscall_checked("prctl PR_GET_THP_DISABLE", SYS_prctl, PR_GET_THP_DISABLE);
      image.process.set_thp_disable(static_cast<uint32_t>(thp));
      // Kernels before 6.3 lack the command (EINVAL): no registration can be told, as before.
      const long membarrier = s.syscall(SYS_membarrier, kMembarrierGetRegistrations, 0, 0);
      image.process.set_membarrier_registrations(membarrier > 0 ? static_cast<uint32_t>(membarrier) : 0);
    }
    // Only the thread can tell; dump_credentials() reads the rest of its creds.
    const long securebits = s.syscall_checked("prctl PR_GET_SECUREBITS", SYS_prctl, PR_GET_SECUREBITS);
    image.process.mutable_threads(static_cast<int>(i))->mutable_creds()->set_securebits(static_cast<uint32_t>(securebits));
    struct {
      flk_stack ss;
      uint64_t pad;
      uint64_t tid_address;
      int32_t pdeath_signal;
      int32_t child_subreaper;
    } out{};
    static_assert(sizeof(flk_stack) == 24 && offsetof(decltype(out), tid_address) == 32);
    static_assert(sizeof(out) <= compel::RemoteSession::kScratchAreaSize);
    compel::read_remote(pid, scratch, &out, sizeof(out), "scratch area");
    s.settle();
    auto* t = image.process.mutable_threads(static_cast<int>(i));
    t->mutable_altstack()->set_sp(out.ss.ss_sp);
    t->mutable_altstack()->set_flags(out.ss.ss_flags);
    t->mutable_altstack()->set_size(out.ss.ss_size);
    t->set_clear_child_tid(out.tid_address);
    if (i == 0) {
      image.process.set_pdeath_signal(static_cast<uint32_t>(out.pdeath_signal));
      image.process.set_child_subreaper(out.child_subreaper != 0);
    }
  }
}

}  // namespace

void kill_and_wait(pid_t pid, const std::vector<compel::SeizedThread*>& threads) {
  if (::kill(pid, SIGKILL) != 0) throw_errno("kill " + pid_text(pid));
  // As their tracer we see every thread die; the leader's death is reported only
  // after the others' are collected. If we are also the parent this reaps it.
  for (size_t i = threads.size(); i-- > 0;) {
    pid_t tid = threads[i]->tid();
    for (;;) {
      int status;
      pid_t r = waitpid(tid, &status, __WALL);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) throw_errno("waitpid " + pid_text(pid) + " tid " + std::to_string(tid));
      if (WIFEXITED(status) || WIFSIGNALED(status)) break;
    }
  }
}

std::string check_dumpable(pid_t pid, const std::vector<pid_t>& tree) {
  auto maps = procfs::read_maps(pid, false);  // the kinds only; flags are read once frozen
  return unsupported(pid, maps, false, tree);
}

std::vector<compel::SeizedThread*> dump_order(compel::SeizedProcess& proc) {
  // Leader first, then the others by tid: the order restore creates them in.
  std::vector<compel::SeizedThread*> threads = {&proc.leader()};
  for (const auto& t : proc.threads())
    if (t->tid() != proc.pid()) threads.push_back(t.get());
  std::sort(threads.begin() + 1, threads.end(), [](auto* a, auto* b) { return a->tid() < b->tid(); });
  return threads;
}

void dump_seized(spdlog::logger* log, compel::SeizedProcess& proc, const std::vector<pid_t>& tree, ProcessImage& image,
                 PagesFileWriter* pages_to,
                 uint64_t pages_at) {
  const pid_t pid = proc.pid();
  try {
    // compel leaves a job-control stopped process stopped; restore stops it again.
    image.process.set_stopped(proc.was_stopped());
    {
      LoggedStep step(log, "dump", pid, "threads and signals");
      std::vector<compel::SeizedThread*> threads = dump_order(proc);
      for (auto* th : threads) dump_thread(*th, image.process.add_threads());
      dump_signals(proc, image);
      dump_thread_extras(pid, threads, image);
      dump_credentials(pid, image.process);
      peek_pending(pid, true, image.process.mutable_shared_pending());
    }
    // Read the layout again now that the process is frozen and the parasite gone.
    auto maps = procfs::read_maps(pid);
    {
      LoggedStep step(log, "dump", pid, "attributes and files");
      if (std::string why = unsupported(pid, maps, true, tree); !why.empty()) throw EngineError("dump: " + why);
      dump_attributes(pid, image);
      if (std::string why = collect_files(pid, image.process, tree); !why.empty()) throw EngineError("dump: " + why);
    }
    LoggedStep step(log, "dump", pid, "memory");
    {
      compel::RemoteSession session(proc.leader());
      image.process.mutable_mm()->set_brk(static_cast<uint64_t>(session.syscall_checked("brk", SYS_brk, 0)));
    }
    dump_memory(pid, maps, image, pages_to, pages_at);
    collect_saved_mappings(pid, maps, image.process);
  } catch (const compel::CompelError& e) {
    throw EngineError(std::string("dump ") + pid_text(pid) + ": " + e.what(), e.error_number());
  }
}

}  // namespace flakelab::engine
