// dump_process(): the process and all its descendants. The whole tree is frozen
// before anything is read (each process is seized before its children are
// listed, so a fork in flight is caught: the child exists once its parent
// stops; the listing is repeated until a pass over every frozen process finds
// nothing new). Zombies are recorded, not seized. On any failure every process
// is released as it was; after a successful dump the tree is killed children
// first, each reaped by its frozen parent (tree_reap.h), unless leave_running.
#include <dirent.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <charconv>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "flakelab/compel/error.h"
#include "flakelab/compel/proc.h"
#include "flakelab/engine/dump.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/show.h"
#include "cpu_colocation.h"
#include "fifos.h"
#include "image_dir.h"
#include "logged_step.h"
#include "pages_file_writer.h"
#include "proc_files.h"
#include "dump_steps.h"
#include "tree_files.h"
#include "tree_image.h"
#include "tree_reap.h"

namespace flakelab::engine {
namespace {

std::string pid_text(pid_t pid) { return "pid " + std::to_string(pid); }

struct Stat {
  char state = '?';
  pid_t ppid = 0, pgid = 0, sid = 0;
  uint32_t exit_signal = 0;
  uint32_t exit_code = 0;
};

// /proc/PID/stat, or nothing if the process is gone.
std::optional<Stat> read_stat(pid_t pid) {
  std::vector<std::string> f;  // f[0]: field 3
  try {
    f = procfs::stat_fields(pid);
  } catch (const EngineError&) {
    return std::nullopt;  // gone (or never was)
  }
  if (f.size() < 50 || f[0].empty()) return std::nullopt;
  auto number = [](const std::string& w, auto& out) {
    auto [p, ec] = std::from_chars(w.data(), w.data() + w.size(), out);
    return ec == std::errc() && p == w.data() + w.size();
  };
  Stat s;
  s.state = f[0][0];
  if (!number(f[1], s.ppid) || !number(f[2], s.pgid) || !number(f[3], s.sid) ||
      !number(f[35], s.exit_signal) ||  // field 38
      !number(f[49], s.exit_code))      // field 52: the wait status
    return std::nullopt;
  return s;
}

// Children of every thread of `pid`.
std::vector<pid_t> children_of(pid_t pid) { return base::procfs::list_children(pid); }

bool is_zombie(const std::optional<Stat>& s) { return s && (s->state == 'Z' || s->state == 'X'); }

struct Member {
  pid_t pid = 0;
  bool zombie = false;
  std::unique_ptr<compel::SeizedProcess> proc;
  // After `proc`: destroyed first, so the masks are back before it is released.
  TraceePins pins;
};

class TreeDump {
 public:
  // `near`: the engine's pin; seized threads join it on its CPU.
  TreeDump(pid_t root, const CpuColocation& near) : root_(root), near_(near) {}

  // From /proc, before anything is touched: what a dump would refuse.
  void precheck() {
    // The tree may grow while we look (a holder of a shared pipe forked after the
    // scan): look again while it changes.
    for (int attempt = 0;; ++attempt) {
      HolderScan once;  // one /proc/*/fd scan for every pipe and FIFO of the tree
      std::vector<pid_t> order = scan();
      std::string why = check_all(order);
      if (why.empty()) return;
      if (attempt == 4 || scan() == order) throw EngineError("dump: " + why);
    }
  }

  // Seizes the root, then every child of every seized process, until a pass
  // finds no new child.
  void freeze() {
    add(root_, true);
    for (bool fresh = true; fresh;) {
      fresh = false;
      for (size_t i = 0; i < members_.size(); ++i) {
        if (members_[i].zombie) continue;
        for (pid_t c : children_of(members_[i].pid))
          if (!known_.count(c)) {
            add(c, false);
            fresh = true;
          }
      }
    }
  }

  // Sessions, groups and zombies of the frozen tree, and what restore cannot share.
  void check() {
    if (auto problem = check_tree_records(records(members_)))
      throw EngineError("dump: the tree of " + pid_text(root_) + ": " + problem->problem);
    for (size_t i = 0; i < members_.size(); ++i)
      for (size_t j = i + 1; j < members_.size(); ++j) {
        if (members_[i].zombie || members_[j].zombie) continue;
        pid_t a = members_[i].pid, b = members_[j].pid;
        if (syscall(SYS_kcmp, a, b, KCMP_VM, 0, 0) == 0)
          throw EngineError("dump: " + pid_text(a) + " and " + pid_text(b) +
                            " share one address space (CLONE_VM, e.g. a vfork() child): not supported");
        if (syscall(SYS_kcmp, a, b, KCMP_FILES, 0, 0) == 0)
          throw EngineError("dump: " + pid_text(a) + " and " + pid_text(b) +
                            " share one fd table (CLONE_FILES): not supported");
      }
  }

  // With `pages_to`, every process's pages go into that file, in tree order, and
  // the image's pages are views of it.
  Image dump(const DumpOptions& options, PagesFileWriter* pages_to = nullptr) {
    HolderScan once;  // again, now that the tree is frozen
    std::vector<pid_t> all;
    for (const auto& m : members_) all.push_back(m.pid);
    Image image;
    uint64_t at = 0;  // payload offset of the next process's pages
    for (auto& m : members_) {
      if (m.zombie) continue;
      ProcessImage& one = image.processes.emplace_back();
      dump_seized(options.log, *m.proc, all, one, pages_to, at);
      at += one.process.pages_bytes();
    }
    if (pages_to) {
      uint64_t offset = 0;
      for (auto& p : image.processes) {
        p.pages = pages_to->view(offset, p.process.pages_bytes());
        offset += p.process.pages_bytes();
      }
    }
    std::vector<pb::Process*> live;
    for (auto& p : image.processes) live.push_back(&p.process);
    // Sockets tree-wide, then one tree_file per shared description.
    LoggedStep step(options.log, "dump", root_, "sockets and shared files");
    dump_tree_files(live, options);
    image.tree = records(members_);
    validate_image(image, "(dump of " + pid_text(root_) + ")");
    return image;
  }

  // Children before parents: each is killed, collected as our tracee and reaped
  // by its frozen parent; zombies are reaped by their parent too.
  void kill_all() {
    std::map<pid_t, size_t> index;
    for (size_t i = 0; i < members_.size(); ++i) index[members_[i].pid] = i;
    for (size_t i = members_.size(); i-- > 0;) {
      Member& m = members_[i];
      if (!m.zombie) {
        m.pins.forget();  // it dies with them
        kill_and_wait(m.pid, dump_order(*m.proc));
        m.proc.reset();
      }
      if (i == 0) continue;
      auto st = stats_.at(m.pid);
      Member& parent = members_[index.at(st.ppid)];
      reap_in_parent(*parent.proc, m.pid);
    }
  }

 private:
  void add(pid_t pid, bool root) {
    known_.insert(pid);
    auto st = read_stat(pid);
    if (!st) {
      if (root) throw EngineError("dump: " + pid_text(pid) + " does not exist", ESRCH);
      return;  // exited and reaped (its parent ignores SIGCHLD)
    }
    if (is_zombie(st)) {
      if (root) throw EngineError("dump: " + pid_text(pid) + " is a zombie", ESRCH);
      members_.push_back({pid, true, nullptr, {}});
      return;
    }
    try {
      members_.push_back({pid, false, std::make_unique<compel::SeizedProcess>(pid), {}});
      std::vector<pid_t> tids;
      for (const auto& t : members_.back().proc->threads()) tids.push_back(t->tid());
      members_.back().pins.pin(near_, tids);
    } catch (const compel::CompelError& e) {
      // Not frozen yet, it may have exited meanwhile: a zombie now (its parent is
      // frozen) or gone.
      auto now = read_stat(pid);
      if (!root && e.error_number() == ESRCH && (!now || is_zombie(now))) {
        if (now) members_.push_back({pid, true, nullptr, {}});
        return;
      }
      throw EngineError("dump " + pid_text(pid) + ": " + e.what(), e.error_number());
    }
  }

  // The root and its descendants as /proc shows them now, parents first.
  std::vector<pid_t> scan() {
    std::vector<pid_t> order = {root_};
    std::set<pid_t> seen = {root_};
    for (size_t i = 0; i < order.size(); ++i)
      for (pid_t c : children_of(order[i]))
        if (seen.insert(c).second) order.push_back(c);
    return order;
  }

  std::string check_all(const std::vector<pid_t>& order) {
    for (pid_t pid : order) {
      if (is_zombie(read_stat(pid))) continue;
      std::string why = check_dumpable(pid, order);
      if (why.empty()) continue;
      // A descendant may exit meanwhile; the frozen tree decides about it.
      if (pid != root_) {
        auto now = read_stat(pid);
        if (!now || is_zombie(now)) continue;
      }
      return why;
    }
    std::vector<Member> unfrozen;
    for (pid_t pid : order) unfrozen.push_back({pid, is_zombie(read_stat(pid)), nullptr, {}});
    pb::TreeImage tree;
    try {
      tree = records(unfrozen);
    } catch (const EngineError& e) {
      return e.what();  // a process exited meanwhile: precheck() looks again
    }
    if (auto problem = check_tree_records(tree)) return "the tree of " + pid_text(root_) + ": " + problem->problem;
    return "";
  }

  pb::TreeImage records(const std::vector<Member>& members) {
    pb::TreeImage tree;
    for (const auto& m : members) {
      auto st = read_stat(m.pid);
      if (!st) throw EngineError("dump: " + pid_text(m.pid) + " disappeared during the dump");
      stats_[m.pid] = *st;
      auto* r = tree.add_processes();
      r->set_pid(static_cast<uint32_t>(m.pid));
      r->set_ppid(static_cast<uint32_t>(st->ppid));
      r->set_pgid(static_cast<uint32_t>(st->pgid));
      r->set_sid(static_cast<uint32_t>(st->sid));
      r->set_exit_signal(st->exit_signal);
      if (m.zombie) {
        r->set_zombie(true);
        r->set_exit_status(st->exit_code);
        std::string comm = procfs::read_file("/proc/" + std::to_string(m.pid) + "/comm");
        if (!comm.empty() && comm.back() == '\n') comm.pop_back();
        r->set_comm(comm);
      }
    }
    return tree;
  }

  pid_t root_;
  const CpuColocation& near_;
  std::vector<Member> members_;  // parents before children
  std::set<pid_t> known_;
  std::map<pid_t, Stat> stats_;
};

// What a dump refuses, from /proc; then the tree frozen and checked again. On
// failure, destroying `tree` releases every process that is still seized.
void freeze_checked(TreeDump& tree, pid_t pid, spdlog::logger* log) {
  {
    LoggedStep step(log, "dump", pid, "check");
    tree.precheck();
  }
  LoggedStep step(log, "dump", pid, "freeze");
  tree.freeze();
  tree.check();
}

void kill_or_release(TreeDump& tree, pid_t pid, const DumpOptions& options) {
  if (options.leave_running) return;  // released as `tree` goes
  LoggedStep step(options.log, "dump", pid, "kill");
  tree.kill_all();
}

void log_done(const Image& image, pid_t pid, const DumpOptions& options,
              std::chrono::steady_clock::time_point start) {
  if (!options.log || !options.log->should_log(spdlog::level::info)) return;
  options.log->info("dumped pid {}: {} in {:.3f} ms; {}", pid, image_summary(image),
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count(),
                    options.leave_running ? "left running" : "killed");
}

// A kernel thread has no user memory or exe; say so instead of failing on /proc/PID/exe.
void refuse_kernel_thread(pid_t pid) {
  auto status = base::procfs::read_status(pid);
  if (status && status->kernel_thread)
    throw EngineError("dump: " + pid_text(pid) + " (" + status->name + ") is a kernel thread; it cannot be dumped",
                      EPERM);
}

}  // namespace

Image dump_process(pid_t pid, const DumpOptions& options) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH))
    throw EngineError("dump: pid " + std::to_string(pid) + " does not exist", ESRCH);
  refuse_kernel_thread(pid);
  const auto start = std::chrono::steady_clock::now();
  CpuColocation near(last_cpu_of(pid));  // ptrace round trips within one CPU (cpu_colocation.h)
  TreeDump tree(pid, near);
  freeze_checked(tree, pid, options.log);
  Image image = tree.dump(options);
  kill_or_release(tree, pid, options);
  log_done(image, pid, options, start);
  return image;
}

Image dump_process_to_dir(pid_t pid, const std::string& dir, const DumpOptions& options) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH))
    throw EngineError("dump: pid " + std::to_string(pid) + " does not exist", ESRCH);
  refuse_kernel_thread(pid);
  const auto start = std::chrono::steady_clock::now();
  CpuColocation near(last_cpu_of(pid));
  TreeDump tree(pid, near);
  freeze_checked(tree, pid, options.log);
  // Declared after `tree`: on failure the temporary pages file goes first, then
  // the processes are released.
  PagesFileWriter pages(dir);
  Image image = tree.dump(options, &pages);
  {
    LoggedStep step(options.log, "dump", pid, "write");
    uint64_t total = 0;
    for (const auto& p : image.processes) total += p.process.pages_bytes();
    pages.finish(total);
    write_process_file(image, dir);
  }
  // Only now that the image is on disk. Freeing the processes' memory and the
  // replaced pages.img's both take a while: side by side, on the caller's CPUs.
  if (!options.leave_running) {
    std::jthread drop;
    if (pages.replaced_is_large())
      drop = std::jthread([&pages, spread = caller_affinity()] {
        sched_setaffinity(0, sizeof(spread), &spread);  // best effort
        pages.drop_replaced();
      });
    kill_or_release(tree, pid, options);
  }
  log_done(image, pid, options, start);
  return image;
}

}  // namespace flakelab::engine
