// Restore of a process tree (a single process is a tree of one): every shared
// kernel object is created once by the restorer (TreeFiles) and inherited; the
// root is our child (clone3 set_tid, into a trampoline), every other process is
// created by its restored parent with a remote clone3(set_tid) while everyone
// still sits in the trampoline, so each inherits the whole set of files and
// keeps its own. Sessions are made as processes are created (a session leader
// calls setsid() before it has children, which are then born into it), groups
// once everyone exists (leaders first), zombies exit last with their saved
// status, and only then is each live process rebuilt and all are released.
//
// A restorer killed at any moment leaves nothing half-restored: a new process
// has PR_SET_PDEATHSIG(SIGKILL) from its first instructions (and exits if its
// parent died before that), and once seized PTRACE_O_EXITKILL kills it with its
// tracer until it is released, complete.
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <thread>

#include "flakelab/compel/error.h"
#include "flakelab/compel/seized_process.h"
#include "flakelab/engine/restore.h"
#include "flakelab/engine/show.h"
#include "cpu_colocation.h"
#include "creds_restore.h"
#include "fault_point.h"
#include "logged_step.h"
#include "restore_steps.h"
#include "tree_reap.h"

namespace flakelab::engine {
namespace {

using namespace restore_detail;
using base::UniqueFd;

struct Member {
  pb::TreeProcess rec;
  const pb::Process* process = nullptr;  // live processes
  const PageBytes* pages = nullptr;
  int parent = -1;
  InheritedFiles files;
  pid_t pid = 0;                          // once created
  std::unique_ptr<compel::SeizedProcess> proc;
  std::vector<std::unique_ptr<compel::SeizedThread>> others;
  bool exited = false;                    // a zombie that has exited
};

std::string who(pid_t pid) { return "restore pid " + std::to_string(pid); }

long remote(compel::SeizedProcess& proc, const std::string& what, long nr, long a1 = 0, long a2 = 0, long a3 = 0,
            long a4 = 0) {
  compel::RemoteSession s(proc.leader());
  long r = s.syscall_checked(what + " (restoring pid " + std::to_string(proc.pid()) + ")", nr, a1, a2, a3, a4);
  s.settle();
  return r;
}

// The parent's leader runs clone3(set_tid = {pid}) from the trampoline's spawn
// snippet (no CLONE_* flags: a fork); the child sleeps in pause() there.
pid_t spawn_child(compel::SeizedProcess& parent, pid_t pid, uint32_t exit_signal, const Trampoline& t, int wait_ms) {
  compel::SeizedThread& leader = parent.leader();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (;;) {
    clone_args args{};
    args.exit_signal = exit_signal;
    long r = spawn_with_tid(leader, parent.pid(), t, args, pid, "child " + std::to_string(pid), /*process=*/true);
    if (r == -EEXIST && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // the old owner is not reaped yet
      continue;
    }
    if (r < 0) throw_errno(who(parent.pid()) + ": remote clone3 set_tid " + std::to_string(pid), static_cast<int>(-r));
    if (r != pid)
      throw EngineError(who(parent.pid()) + ": clone3 gave pid " + std::to_string(r) + ", not " + std::to_string(pid));
    return pid;
  }
}

// Makes a process that sits in its trampoline exit with the saved wait status,
// leaving a zombie for its restored parent. We wait for it as its tracer, which
// hands it on to the parent unreaped.
void become_zombie(Member& m, const Trampoline& t) {
  compel::SeizedThread& th = m.proc->leader();
  uint32_t status = m.rec.exit_status();
  std::string comm = m.rec.comm();
  {
    compel::RemoteSession s(th);
    Scratch scratch(m.pid, t);
    if (!comm.empty())
      s.syscall_checked("prctl PR_SET_NAME (zombie " + std::to_string(m.pid) + ")", SYS_prctl, PR_SET_NAME,
                        scratch.put(comm.c_str(), comm.size() + 1));
    if (WIFSIGNALED(status)) {
      struct {
        uint64_t handler, flags, restorer, mask;
      } dfl{};
      s.syscall_checked("rt_sigaction SIG_DFL (zombie " + std::to_string(m.pid) + ")", SYS_rt_sigaction,
                        WTERMSIG(status), scratch.put(&dfl, sizeof(dfl)), 0, 8);
    }
    s.settle();
  }
  if (WIFSIGNALED(status)) {
    struct rlimit none{0, 0};  // no core file: the saved status says there was none
    if (prlimit(m.pid, RLIMIT_CORE, &none, nullptr) != 0) throw_errno(who(m.pid) + ": prlimit RLIMIT_CORE");
    th.set_sigmask(~(uint64_t{1} << (WTERMSIG(status) - 1)));
    if (syscall(SYS_tgkill, m.pid, m.pid, WTERMSIG(status)) != 0) throw_errno(who(m.pid) + ": tgkill");
  } else {
    user_regs_struct regs = th.get_regs();
    regs.rip = (t.base + kSpawnOffset).as_int();  // a syscall instruction
    regs.rax = SYS_exit_group;
    regs.rdi = WEXITSTATUS(status);
    regs.orig_rax = static_cast<uint64_t>(-1);
    th.set_regs(regs);
  }
  th.resume();
  for (;;) {
    int st = 0;
    pid_t r = waitpid(m.pid, &st, __WALL);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw_errno(who(m.pid) + ": waitpid (zombie)");
    if (WIFEXITED(st) || WIFSIGNALED(st)) break;
    // A signal-delivery stop: let the fatal signal through.
    int sig = WIFSTOPPED(st) && (st >> 16) == 0 ? WSTOPSIG(st) : 0;
    if (ptrace(PTRACE_CONT, m.pid, nullptr, sig) != 0) throw_errno(who(m.pid) + ": PTRACE_CONT (zombie)");
  }
  m.exited = true;
  m.proc.reset();  // nothing left to detach
}

class TreeRestore {
 public:
  TreeRestore(const Image& image, const RestoreOptions& options, RestoreStats* stats)
      : image_(image), options_(options), stats_(stats) {}

  pid_t run() {
    const auto start = std::chrono::steady_clock::now();
    spdlog::logger* log = options_.log;
    CpuColocation near;  // every process we create starts on our CPU (cpu_colocation.h)
    plan();
    {
      LoggedStep step(log, "restore", root(), "files and sockets");
      tree_files_.open_all(live_, options_, stats_);
      for (auto& m : members_)
        if (m.process) {
          m.files.tree = &tree_files_;
          m.files.open_all(*m.process);
        }
    }
    try {
      {
        LoggedStep step(log, "restore", root(), "fork");
        create_root();
        for (size_t i = 1; i < members_.size(); ++i) create_child(members_[i]);
        set_groups();
        make_zombies();
      }
      fault_point("forked");
      std::optional<PagesChecker> checker;
      if (image_.unchecked_pages) checker.emplace(*image_.unchecked_pages);
      for (auto& m : members_)
        if (m.process) {
          compel::RemoteSession session(m.proc->leader());
          transmute(log, session, m.pid, *m.process, *m.pages, t_, m.files, checker ? &*checker : nullptr);
          session.settle();
          fault_point("transmuted");
        }
      // Every process's pages are in, none has run: a corrupt payload fails here.
      if (checker) {
        LoggedStep step(log, "restore", root(), "pages checksum");
        checker->verify();
      }
      tree_files_.seal_late();  // now that every mapping of a sealed memfd exists
      for (auto& m : members_)
        if (m.process) {
          LoggedStep step(log, "restore", m.pid, "threads");
          finish(m);
        }
      fault_point("finished");
      LoggedStep step(log, "restore", root(), "release");
      for (auto& m : members_)
        if (m.process && m.process->stopped() && ::kill(m.pid, SIGSTOP) != 0) throw_errno(who(m.pid) + ": kill SIGSTOP");
      // Before any of them runs its own code: the caller's CPUs, not the one we pinned.
      for (auto& m : members_)
        if (m.process)
          for (const auto& th : m.process->threads())
            if (!near.restore_original_affinity(static_cast<pid_t>(th.tid())))
              throw_errno(who(m.pid) + ": sched_setaffinity of thread " + std::to_string(th.tid()));
      // Children first: a parent released earlier could already be waiting for them.
      for (size_t i = members_.size(); i-- > 0;) {
        for (auto& o : members_[i].others) o->release();
        if (members_[i].proc) members_[i].proc->release();
      }
      fault_point("released");
    } catch (const compel::CompelError& e) {
      abort();
      throw EngineError(who(root()) + ": " + e.what(), e.error_number());
    } catch (...) {
      abort();
      throw;
    }
    if (log && log->should_log(spdlog::level::info))
      log->info("restored pid {}: {} in {:.3f} ms", root(), image_summary(image_),
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    return root();
  }

 private:
  pid_t root() const { return static_cast<pid_t>(image_.root().process.pid()); }

  void plan() {
    pb::TreeImage tree = image_.tree;
    if (tree.processes().empty()) {
      // A single-process image: the root alone, in the restorer's session and group.
      auto* r = tree.add_processes();
      r->set_pid(image_.root().process.pid());
      r->set_exit_signal(SIGCHLD);
    }
    std::map<uint32_t, int> index;
    size_t next = 0;
    for (const auto& rec : tree.processes()) {
      Member m;
      m.rec = rec;
      if (!members_.empty()) m.parent = index.at(rec.ppid());  // validate_tree() checked it
      if (!rec.zombie()) {  // the root is live
        m.process = &image_.processes.at(next).process;
        m.pages = &image_.processes.at(next).pages;
        ++next;
      }
      index[rec.pid()] = static_cast<int>(members_.size());
      if (m.process) live_.push_back(m.process);
      members_.push_back(std::move(m));
    }
    pids_ = index;
  }

  void create_root() {
    Member& m = members_[0];
    // Another thread of the restorer may map something where the trampoline was to
    // go between choosing the spot and clone3; the child then exits and we retry.
    for (int attempt = 1;; ++attempt) {
      auto base = find_free_range(busy_ranges(live_), Trampoline::kSize, ImageLimits::kUserTop);
      if (!base) throw EngineError(who(root()) + ": no free address range for the trampoline");
      t_ = Trampoline{compel::RemoteAddr(*base)};  // free in the restorer and in the image
      int fds[2];
      if (pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
      UniqueFd ready_r(fds[0]), ready_w(fds[1]);
      m.pid = clone_into_trampoline(root(), t_, trampoline_code(ready_w.get()), options_.pid_wait_ms);
      ready_w.reset();
      std::string why = wait_ready(ready_r.get());
      if (why.empty()) break;
      reap_child(m.pid);
      m.pid = 0;
      if (attempt == 3) throw EngineError(who(root()) + ": the new process did not reach its trampoline: " + why);
    }
    seize(m);
    if (m.rec.sid() == m.rec.pid()) remote(*m.proc, "setsid", SYS_setsid);
  }

  void create_child(Member& m) {
    Member& parent = members_[static_cast<size_t>(m.parent)];
    uint32_t exit_signal = m.rec.exit_signal();
    // The spawn snippet has it die with its parent (fork clears the parent-death signal).
    m.pid = spawn_child(*parent.proc, static_cast<pid_t>(m.rec.pid()), exit_signal, t_, options_.pid_wait_ms);
    fault_point("child-cloned");
    seize(m);
    if (m.rec.sid() == m.rec.pid()) remote(*m.proc, "setsid", SYS_setsid);
  }

  void seize(Member& m) {
    m.proc = std::make_unique<compel::SeizedProcess>(m.pid);
    // Until released it dies with us, whatever its parent-death signal is by then.
    // SETOPTIONS replaces the options compel seized with: seccomp stays suspended (a
    // restored filter or strict mode must not judge our remote syscalls), where the
    // kernel lets us (CAP_SYS_ADMIN; images with seccomp are refused without it).
    constexpr long kOptions = PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL;
    if (ptrace(PTRACE_SETOPTIONS, m.pid, nullptr, kOptions | PTRACE_O_SUSPEND_SECCOMP) != 0 &&
        ptrace(PTRACE_SETOPTIONS, m.pid, nullptr, kOptions) != 0)
      throw_errno(who(m.pid) + ": PTRACE_SETOPTIONS PTRACE_O_EXITKILL");
    if (!t_.contains(compel::RemoteAddr(m.proc->leader().get_regs().rip)))
      throw EngineError(who(m.pid) + ": the new process is not in its trampoline");
  }

  // Leaders make their groups first, then members join (a group must exist in
  // the session to be joined). Groups led from outside the tree are the
  // restorer's, which every process not in a session of the tree inherited.
  void set_groups() {
    for (auto& m : members_)
      if (m.rec.pgid() == m.rec.pid() && m.rec.sid() != m.rec.pid()) remote(*m.proc, "setpgid (leader)", SYS_setpgid, 0, 0);
    for (auto& m : members_)
      if (m.rec.pgid() != m.rec.pid() && pids_.count(m.rec.pgid()))
        remote(*m.proc, "setpgid " + std::to_string(m.rec.pgid()), SYS_setpgid, 0, m.rec.pgid());
  }

  void make_zombies() {
    std::vector<int> parents;
    for (auto& m : members_) {
      if (!m.rec.zombie()) continue;
      // SIG_IGN would have the kernel reap it at once; the parent's real
      // handlers are set when it is rebuilt.
      struct {
        uint64_t handler, flags, restorer, mask;
      } dfl{};
      Member& parent = members_[static_cast<size_t>(m.parent)];
      {
        compel::RemoteSession s(parent.proc->leader());
        Scratch scratch(parent.pid, t_);
        s.syscall_checked("rt_sigaction SIGCHLD SIG_DFL", SYS_rt_sigaction, SIGCHLD,
                          scratch.put(&dfl, sizeof(dfl)), 0, 8);
        s.settle();
      }
      become_zombie(m, t_);
      parents.push_back(m.parent);
    }
    // The SIGCHLD those exits sent is not the parent's: its saved queue comes back later.
    for (int i : parents) {
      Member& parent = members_[static_cast<size_t>(i)];
      compel::RemoteSession s(parent.proc->leader());
      Scratch scratch(parent.pid, t_);
      uint64_t set = uint64_t{1} << (SIGCHLD - 1);
      timespec zero{0, 0};
      s.syscall(SYS_rt_sigtimedwait, scratch.put(&set, sizeof(set)), 0, scratch.put(&zero, sizeof(zero)), 8);
      s.settle();
    }
  }

  void finish(Member& m) {
    const pb::Process& p = *m.process;
    compel::SeizedThread& th = m.proc->leader();
    std::vector<compel::SeizedThread*> all = {&th};
    for (int i = 1; i < p.threads_size(); ++i) {
      m.others.push_back(spawn_thread(th, m.pid, static_cast<pid_t>(p.threads(i).tid()), t_));
      all.push_back(m.others.back().get());
    }
    for (size_t i = 0; i < all.size(); ++i)
      restore_thread_state(*all[i], m.pid, p.threads(static_cast<int>(i)), t_, i == 0 ? &p : nullptr);
    set_rlimits(m.pid, p);
    // After prlimit (which a changed uid would refuse us), before the trampoline goes.
    for (size_t i = 0; i < all.size(); ++i)
      restore_credentials(options_.log, *all[i], m.pid, p, static_cast<int>(i), t_, stats_ ? &stats_->not_restored : nullptr);
    leave_trampoline(th, t_, p);
    for (size_t i = 0; i < all.size(); ++i) load_thread_registers(*all[i], p.threads(static_cast<int>(i)));
  }

  // Kills everything made so far, children before parents, and has each parent
  // reap its children, so that no process and no pid is left behind.
  void abort() noexcept {
    for (size_t i = members_.size(); i-- > 0;) {
      Member& m = members_[i];
      if (m.pid == 0) continue;
      if (!m.exited) {
        std::vector<pid_t> tids;
        for (auto& o : m.others) tids.push_back(o->tid());
        if (m.proc)
          for (const auto& t : m.proc->threads())
            if (t->tid() != m.pid) tids.push_back(t->tid());
        kill_and_collect(m.pid, tids, m.proc != nullptr || i == 0);
        m.others.clear();
        m.proc.reset();
      }
      if (i == 0) continue;
      Member& parent = members_[static_cast<size_t>(m.parent)];
      if (parent.proc) reap_in_parent(*parent.proc, m.pid);
    }
    members_.clear();
  }

  void reap_child(pid_t pid) noexcept { kill_and_collect(pid, {}, true); }

  const Image& image_;
  const RestoreOptions& options_;
  RestoreStats* stats_;
  std::vector<Member> members_;
  std::vector<const pb::Process*> live_;
  std::map<uint32_t, int> pids_;
  TreeFiles tree_files_;
  Trampoline t_;
};

}  // namespace

pid_t restore_process(const Image& image, const RestoreOptions& options, RestoreStats* stats) {
  validate_image(image, "(restore)");
  if (std::string why = check_credentials_grantable(image); !why.empty()) throw EngineError("restore " + why);
  return TreeRestore(image, options, stats).run();
}

}  // namespace flakelab::engine
