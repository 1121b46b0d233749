#include "tree_reap.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "flakelab/compel/error.h"
#include "flakelab/compel/remote_session.h"

namespace flakelab::engine {
namespace {

void wait_gone(pid_t tid) noexcept {
  for (;;) {
    int status;
    pid_t r = waitpid(tid, &status, __WALL);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return;  // not ours to wait for, or already collected
    if (WIFEXITED(status) || WIFSIGNALED(status)) return;
  }
}

}  // namespace

void kill_and_collect(pid_t pid, const std::vector<pid_t>& tids, bool wait_leader) noexcept {
  ::kill(pid, SIGKILL);
  // The leader's death is reported only once the other threads are collected.
  for (pid_t tid : tids) wait_gone(tid);
  if (wait_leader) wait_gone(pid);
}

bool reap_in_parent(compel::SeizedProcess& parent, pid_t pid) noexcept {
  try {
    compel::RemoteSession s(parent.leader());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    bool reaped = false;
    for (;;) {
      long r = s.syscall(SYS_wait4, pid, 0, WNOHANG | __WALL, 0);
      if (r == pid || r == -ECHILD) {
        reaped = r == pid;
        break;
      }
      if (r < 0 && r != -EINTR) break;
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    s.settle();
    return reaped;
  } catch (const compel::CompelError&) {
    return false;
  }
}

}  // namespace flakelab::engine
