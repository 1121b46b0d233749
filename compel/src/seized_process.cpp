#include "flakelab/compel/seized_process.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <string>

#include "flakelab/compel/error.h"
#include "flakelab/base/procfs.h"

namespace flakelab::compel {
namespace {

void check_seizable(pid_t pid) {
  const std::string who = "pid " + std::to_string(pid);
  if (pid <= 0) throw CompelError("cannot seize " + who + ": not a valid process id", EINVAL);
  if (pid == getpid()) throw CompelError("refusing to seize " + who + ": it is the injector itself", EINVAL);
  auto st = base::procfs::read_status(pid);
  if (!st) throw CompelError("cannot seize " + who + ": no such process", ESRCH);
  if (st->tgid == getpid())
    throw CompelError("refusing to seize " + who + ": it is a thread of the injector itself", EINVAL);
  if (st->tgid != pid)
    throw CompelError("cannot seize " + who + ": it is a thread of process " + std::to_string(st->tgid) +
                          "; pass the process id", EINVAL);
  if (st->state == 'Z' || st->state == 'X')
    throw CompelError("cannot seize " + who + " (" + st->name + "): it is a zombie", ESRCH);
  if (st->kernel_thread)
    throw CompelError("cannot seize " + who + " (" + st->name + "): it is a kernel thread", EPERM);
  if (st->tracer_pid != 0)
    throw CompelError("cannot seize " + who + " (" + st->name + "): already traced by pid " +
                          std::to_string(st->tracer_pid), EBUSY);
}

}  // namespace

SeizedProcess::SeizedProcess(pid_t pid) : pid_(pid) {
  check_seizable(pid);
  auto st = base::procfs::read_status(pid);
  was_stopped_ = st && st->state == 'T';
  std::set<pid_t> seen;
  try {
    for (;;) {
      std::vector<SeizedThread*> fresh;
      for (pid_t tid : base::procfs::list_threads(pid)) {
        if (!seen.insert(tid).second) continue;
        std::unique_ptr<SeizedThread> t;
        try {
          t = std::make_unique<SeizedThread>(pid, tid);
        } catch (const CompelError& e) {
          if (e.error_number() == ESRCH) continue;  // exited between listing and seizing
          if (e.error_number() == EPERM && tid != pid) {
            // ptrace refuses (EPERM, not ESRCH) a thread that has already exited but
            // is still listed in /proc/PID/task.
            auto thread = base::procfs::read_status(tid);
            if (!thread || thread->state == 'Z' || thread->state == 'X') continue;
          }
          if (e.error_number() == EPERM) {
            auto now = base::procfs::read_status(pid);
            if (now && now->tracer_pid != 0 && now->tracer_pid != getpid())
              throw CompelError("cannot seize pid " + std::to_string(pid) + ": already traced by pid " +
                                    std::to_string(now->tracer_pid), EBUSY);
          }
          throw;
        }
        fresh.push_back(t.get());
        threads_.push_back(std::move(t));
      }
      if (fresh.empty()) break;
      for (SeizedThread* t : fresh) t->wait_initial_stop();
      // Drop threads that exited before stopping.
      std::erase_if(threads_, [](const auto& t) { return !t->attached(); });
    }
    if (threads_.empty()) throw CompelError("cannot seize pid " + std::to_string(pid) + ": it exited", ESRCH);
    if (std::none_of(threads_.begin(), threads_.end(), [&](const auto& t) { return t->tid() == pid; }))
      throw CompelError("cannot seize pid " + std::to_string(pid) + ": its main thread exited", ESRCH);
  } catch (...) {
    release();
    throw;
  }
}

SeizedProcess::~SeizedProcess() { release(); }

SeizedThread& SeizedProcess::leader() {
  SeizedThread* t = find_thread(pid_);
  if (!t) throw CompelError("pid " + std::to_string(pid_) + ": main thread is not seized", ESRCH);
  return *t;
}

SeizedThread* SeizedProcess::find_thread(pid_t tid) {
  for (auto& t : threads_)
    if (t->tid() == tid) return t.get();
  return nullptr;
}

void SeizedProcess::release() noexcept {
  for (auto& t : threads_) t->release();
  threads_.clear();
}

}  // namespace flakelab::compel
