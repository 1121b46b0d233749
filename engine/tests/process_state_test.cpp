// Process state the engine saves (a round trip the victim checks itself) or
// refuses before touching the process (CRIU's zdtm tests that were restored
// silently wrong: oom_score_adj, child_subreaper, thp_disable, membarrier,
// sched_*, maps02, memfd04, file_attr, chroot, posix_timers, file_locks*, tty00).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>

#include "flakelab/base/temp_dir.h"
#include "flakelab/engine/dump.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/restore.h"
#include "test_support.h"

using namespace flakelab::engine;
using namespace flakelab::engine::testing;

namespace {

// The victim's body: `setup` (false: exit 100), then ready, then pause() until
// SIGUSR1, then exit 0 if `check` holds, else 1.
pid_t start_checking_victim(const std::string& what, std::function<bool()> setup, std::function<bool()> check) {
  return start_victim(what, [setup, check](int ready) {
    if (ready > 0) syscall(SYS_close_range, 0, ready - 1, 0);
    syscall(SYS_close_range, ready + 1, ~0u, 0);
    signal(SIGUSR1, [](int) {});
    if (!setup()) _exit(100);
    if (write(ready, "r", 1) != 1) _exit(101);
    close(ready);
    pause();
    _exit(check() ? 0 : 1);
  });
}

void expect_round_trip(pid_t pid) {
  ChildPid v{pid};
  pid_t restored = restore_process(dump_process(v.pid));
  ASSERT_EQ(restored, v.pid);
  ASSERT_TRUE(wait_sleeping(restored));
  ASSERT_EQ(kill(restored, SIGUSR1), 0);
  EXPECT_EQ(exit_code(restored), 0) << "the restored victim found its state changed";
  v.pid = -1;
}

// The dump fails naming `expected`, and the victim runs on untraced.
void expect_refusal(pid_t pid, const std::string& expected) {
  ChildPid v{pid};
  try {
    dump_process(v.pid);
    FAIL() << "dump succeeded";
  } catch (const EngineError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("pid " + std::to_string(v.pid)), std::string::npos) << msg;
    EXPECT_NE(msg.find(expected), std::string::npos) << msg;
  }
  EXPECT_TRUE(wait_sleeping(v.pid));
  EXPECT_EQ(proc_status_field(v.pid, "TracerPid"), "0");
}

int read_oom_score_adj() {
  std::ifstream in("/proc/self/oom_score_adj");
  int v = -2000;
  in >> v;
  return v;
}

}  // namespace

TEST(ProcessState, OomScoreAdjSurvives) {
  expect_round_trip(start_checking_victim(
      "oom_score_adj victim",
      [] {
        std::ofstream("/proc/self/oom_score_adj") << 321;
        return read_oom_score_adj() == 321;
      },
      [] { return read_oom_score_adj() == 321; }));
}

TEST(ProcessState, ChildSubreaperAndThpDisableSurvive) {
  expect_round_trip(start_checking_victim(
      "subreaper victim",
      [] { return prctl(PR_SET_CHILD_SUBREAPER, 1) == 0 && prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0; },
      [] {
        int subreaper = 0;
        return prctl(PR_GET_CHILD_SUBREAPER, &subreaper) == 0 && subreaper == 1 && prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1;
      }));
}

TEST(ProcessState, MembarrierRegistrationSurvives) {
  constexpr int kRegisterPrivateExpedited = 1 << 4, kPrivateExpedited = 1 << 3;
  // Without the registration, PRIVATE_EXPEDITED fails with EPERM.
  expect_round_trip(start_checking_victim(
      "membarrier victim", [] { return syscall(SYS_membarrier, kRegisterPrivateExpedited, 0, 0) == 0; },
      [] { return syscall(SYS_membarrier, kPrivateExpedited, 0, 0) == 0; }));
}

TEST(ProcessState, SchedulingPolicyAndNiceSurvivePerThread) {
  expect_round_trip(start_checking_victim(
      "scheduling victim",
      [] {
        sched_param none{};
        return sched_setscheduler(0, SCHED_BATCH, &none) == 0 && setpriority(PRIO_PROCESS, 0, 7) == 0;
      },
      [] { return sched_getscheduler(0) == SCHED_BATCH && getpriority(PRIO_PROCESS, 0) == 7; }));
}

TEST(ProcessState, MadviseFlagsLockAndDroppableSurvive) {
  static void* dontfork = nullptr;
  static void* huge = nullptr;
  static void* locked = nullptr;
  static void* droppable = nullptr;
  // "VmFlags:" of the mapping at `at`.
  auto flags_of = [](void* at) {
    std::ifstream in("/proc/self/smaps");
    std::string line;
    char head[32];
    snprintf(head, sizeof head, "%lx-", reinterpret_cast<unsigned long>(at));
    bool inside = false;
    while (std::getline(in, line)) {
      if (line.rfind(head, 0) == 0) inside = true;
      if (inside && line.rfind("VmFlags:", 0) == 0) return line + " ";
    }
    return std::string();
  };
  expect_round_trip(start_checking_victim(
      "madvise victim",
      [] {
        auto map = [](int flags) { return mmap(nullptr, 4 << 20, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0); };
        dontfork = map(MAP_PRIVATE);
        huge = map(MAP_PRIVATE);
        locked = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
        droppable = map(0x08);  // MAP_DROPPABLE
        if (dontfork == MAP_FAILED || huge == MAP_FAILED || locked == MAP_FAILED || droppable == MAP_FAILED) return false;
        std::memset(droppable, 7, 4096);
        return madvise(dontfork, 4 << 20, MADV_DONTFORK) == 0 && madvise(huge, 4 << 20, MADV_HUGEPAGE) == 0;
      },
      [flags_of] {
        return flags_of(dontfork).find(" dc ") != std::string::npos && flags_of(huge).find(" hg ") != std::string::npos &&
               flags_of(locked).find(" lo ") != std::string::npos && flags_of(droppable).find(" dp ") != std::string::npos &&
               // Its pages are not saved (as CRIU): zero again.
               static_cast<const char*>(droppable)[0] == 0;
      }));
}

// Restore hands memfd_create()'s own description back to the first read-write fd:
// a reopen through /proc would count as a writer and execveat() would fail with
// ETXTBSY (zdtm memfd04/05).
TEST(ProcessState, MemfdStaysExecutable) {
  static int memfd = -1;
  expect_round_trip(start_checking_victim(
      "memfd exec victim",
      [] {
        memfd = static_cast<int>(memfd_create("script", 0));
        const char script[] = "#!/bin/true\n";
        return memfd >= 0 && write(memfd, script, sizeof script - 1) == static_cast<ssize_t>(sizeof script - 1);
      },
      [] {
        pid_t child = fork();
        if (child == 0) {
          const char* const argv[] = {"true", nullptr};
          const char* const envp[] = {nullptr};
          syscall(SYS_execveat, memfd, "", argv, envp, AT_EMPTY_PATH);
          _exit(errno == ETXTBSY ? 2 : 3);
        }
        int status = 0;
        return child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0;
      }));
}

// An unlinked file is written again by restore; its times must be the saved ones
// (zdtm file_attr).
TEST(ProcessState, UnlinkedFileKeepsItsTimes) {
  flakelab::base::TempDir tmp("/tmp", "flk-times-");
  static std::string path;
  path = tmp.path() + "/gone";
  static int fd = -1;
  expect_round_trip(start_checking_victim(
      "unlinked file times victim",
      [] {
        fd = open(path.c_str(), O_CREAT | O_RDWR, 0600);
        const timespec times[2] = {{654321, 5}, {123456, 7}};
        return fd >= 0 && write(fd, "data", 4) == 4 && futimens(fd, times) == 0 && unlink(path.c_str()) == 0;
      },
      [] {
        struct stat st;
        return fstat(fd, &st) == 0 && st.st_mtim.tv_sec == 123456 && st.st_mtim.tv_nsec == 7 &&
               st.st_atim.tv_sec == 654321;
      }));
}

TEST(ProcessStateRefused, ChrootIsRefused) {
  expect_refusal(start_checking_victim(
                     "chroot victim", [] { return chroot("/tmp") == 0; }, [] { return true; }),
                 "(chroot): a changed root is not restored yet");
}

TEST(ProcessStateRefused, PosixTimerIsRefused) {
  expect_refusal(start_checking_victim(
                     "posix timer victim",
                     [] {
                       timer_t t;
                       return timer_create(CLOCK_MONOTONIC, nullptr, &t) == 0;
                     },
                     [] { return true; }),
                 "has POSIX timers (timer_create: ID: 0");
}

TEST(ProcessStateRefused, OtherNamespaceIsRefused) {
  expect_refusal(start_checking_victim(
                     "uts namespace victim", [] { return unshare(CLONE_NEWUTS) == 0; }, [] { return true; }),
                 "namespaces are not restored");
}

TEST(ProcessStateRefused, FileLockIsRefused) {
  flakelab::base::TempDir tmp("/tmp", "flk-lock-");
  const std::string path = tmp.path() + "/locked";
  expect_refusal(start_checking_victim(
                     "flock victim",
                     [path] {
                       int fd = open(path.c_str(), O_CREAT | O_RDWR, 0600);
                       return fd >= 0 && flock(fd, LOCK_EX) == 0;
                     },
                     [] { return true; }),
                 "holds a file lock (");
}

TEST(ProcessStateRefused, PtyMasterIsRefused) {
  expect_refusal(start_checking_victim(
                     "pty victim", [] { return open("/dev/ptmx", O_RDWR | O_NOCTTY) >= 0; }, [] { return true; }),
                 "a pseudo-terminal master (ptmx)");
}

TEST(ProcessStateRefused, OtherCgroupIsRefused) {
  // A child cgroup in a v1 hierarchy of this machine, if there is one to write to.
  const std::string cg = "/sys/fs/cgroup/pids/flk-refuse-" + std::to_string(getpid());
  if (mkdir(cg.c_str(), 0755) != 0) GTEST_SKIP() << "cannot make a cgroup " << cg << ": " << strerror(errno);
  expect_refusal(start_checking_victim(
                     "cgroup victim",
                     [cg] {
                       std::ofstream(cg + "/cgroup.procs") << getpid();
                       return true;
                     },
                     [] { return true; }),
                 "cgroup membership is not restored yet");
  EXPECT_EQ(rmdir(cg.c_str()), 0) << cg << ": " << strerror(errno);
}
