// eventfd, epoll, timerfd and signalfd through dump and restore, the variants
// dump refuses, and a restore that fails while adding epoll watches.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include "flakelab/victims/anon_fd_victims.h"
#include "flakelab/engine/dump.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/restore.h"
#include "flakelab/engine/show.h"
#include "flakelab/victims/victims.h"
#include "test_support.h"

using namespace flakelab::engine;
using namespace flakelab::engine::testing;

namespace {

// SIGUSR2 for the victim's signalfd, then SIGUSR1 to verify; its exit code.
int verify(pid_t pid) {
  EXPECT_EQ(kill(pid, SIGUSR2), 0);
  EXPECT_EQ(kill(pid, SIGUSR1), 0);
  int status = wait_exit(pid);
  EXPECT_TRUE(WIFEXITED(status)) << "status " << status;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::map<pb::FileKind, int> kinds(const pb::Process& p) {
  std::map<pb::FileKind, int> n;
  for (const auto& f : p.files()) ++n[f.kind()];
  return n;
}

const pb::File* timer_on(const pb::Process& p, uint32_t clockid, bool periodic) {
  for (const auto& f : p.files())
    if (f.kind() == pb::FILE_TIMERFD && f.timerfd().clockid() == clockid &&
        (f.timerfd().interval_sec() || f.timerfd().interval_nsec()) == periodic)
      return &f;
  return nullptr;
}

// What every image of the victim holds, whether or not it was killed.
void expect_victim_state(const Image& image) {
  const pb::Process& p = image.root().process;
  auto n = kinds(p);
  EXPECT_EQ(n[pb::FILE_EVENTFD], 5) << "dup()ed eventfds must share their file";
  EXPECT_EQ(n[pb::FILE_EPOLL], 3);
  EXPECT_EQ(n[pb::FILE_TIMERFD], 4);
  EXPECT_EQ(n[pb::FILE_SIGNALFD], 1);
  int big = 0, watches = 0;
  for (const auto& f : p.files()) {
    if (f.kind() == pb::FILE_EVENTFD && f.eventfd().count() == kAnonBigCount) ++big;
    if (f.kind() == pb::FILE_EPOLL) watches = std::max(watches, f.epoll().watches_size());
  }
  EXPECT_EQ(big, 1);
  EXPECT_EQ(watches, kAnonEpollWatches);
  // Unread expirations as read() would report them, not fdinfo's stale 1: the
  // 20 ms timer fired at least 3 times before the victim reported ready.
  const pb::File* fast = nullptr;
  const pb::File* slow = nullptr;
  for (const auto& f : p.files())
    if (f.kind() == pb::FILE_TIMERFD && f.timerfd().interval_sec() == 60) slow = &f;
  for (const auto& f : p.files())
    if (f.kind() == pb::FILE_TIMERFD && f.timerfd().interval_nsec() == 20000000) fast = &f;
  ASSERT_NE(fast, nullptr);
  ASSERT_NE(slow, nullptr);
  EXPECT_GE(fast->timerfd().ticks(), 3u);
  EXPECT_TRUE(fast->timerfd().value_sec() || fast->timerfd().value_nsec()) << "an expired periodic timer was not forwarded";
  EXPECT_EQ(slow->timerfd().ticks(), 1u);
  const pb::File* once = timer_on(p, CLOCK_BOOTTIME, false);
  ASSERT_NE(once, nullptr);
  EXPECT_EQ(once->timerfd().ticks(), 1u);
  const pb::File* abs = timer_on(p, CLOCK_REALTIME, false);
  ASSERT_NE(abs, nullptr);
  EXPECT_EQ(abs->timerfd().settime_flags(), static_cast<uint32_t>(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET));
  EXPECT_GT(abs->timerfd().value_sec(), 90);
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  EXPECT_GT(abs->timerfd().due_sec(), now.tv_sec + 90) << "an absolute timer needs its deadline";
  // The second thread was inside epoll_wait; the freeze made it return EINTR
  // (not a restart code: epoll_wait is never restarted, see signal(7)).
  ASSERT_EQ(p.threads_size(), 2);
  EXPECT_EQ(p.threads(1).gp().orig_rax(), static_cast<uint64_t>(SYS_epoll_wait));
  EXPECT_EQ(static_cast<long>(p.threads(1).gp().rax()), -EINTR);
}

}  // namespace

TEST(AnonFds, VictimChecksItselfUntouched) {
  ChildPid v{start_anon_fd_victim()};
  EXPECT_EQ(verify(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(AnonFds, SurviveDumpAndRestore) {
  ChildPid v{start_anon_fd_victim()};
  std::vector<int> fds = fd_numbers(v.pid);
  Image image = dump_process(v.pid);
  EXPECT_FALSE(alive(v.pid));
  expect_victim_state(image);
  pid_t restored = restore_process(image);
  ASSERT_EQ(restored, v.pid);
  ASSERT_TRUE(wait_all_sleeping(restored));
  EXPECT_EQ(fd_numbers(restored), fds);
  EXPECT_EQ(verify(restored), kVictimOk);
  v.pid = -1;
}

// Dump reads counters and ticks from fdinfo: the running victim must still
// find every one of them.
TEST(AnonFds, LeaveRunningConsumesNothing) {
  ChildPid v{start_anon_fd_victim()};
  Image image = dump_process(v.pid, DumpOptions{.leave_running = true});
  expect_victim_state(image);
  ASSERT_TRUE(alive(v.pid));
  ASSERT_TRUE(wait_all_sleeping(v.pid));
  EXPECT_EQ(proc_status_field(v.pid, "TracerPid"), "0");
  EXPECT_EQ(verify(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(AnonFds, SurviveRepeatedCyclesThroughImageDirectories) {
  ChildPid v{start_anon_fd_victim()};
  std::vector<int> fds = fd_numbers(v.pid);
  flakelab::base::TempDir dir("/tmp", "flk-anon-");
  for (int cycle = 0; cycle < 3; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    write_image_dir(dump_process(v.pid), dir.path());
    Image image = read_image_dir(dir.path());
    std::string text = show_image_text(image);
    for (const char* want : {"eventfd count 20015998341291", "epoll 7 watches", "watch fd ", "timerfd clock 7 ticks 1",
                             "settime flags 03", "signalfd sigmask 0000001000000800"})
      EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
    pid_t restored = restore_process(image);
    ASSERT_EQ(restored, v.pid);
    ASSERT_TRUE(wait_all_sleeping(restored));
    ASSERT_EQ(fd_numbers(restored), fds);
  }
  EXPECT_EQ(verify(v.pid), kVictimOk);
  v.pid = -1;
}

// A watch the kernel refuses in the target (/dev/null cannot be polled) comes
// after the whole address space was rebuilt: the half-restored process must go.
TEST(AnonFds, RefusedEpollWatchLeavesNothingBehind) {
  ChildPid v{start_anon_fd_victim()};
  Image image = dump_process(v.pid);
  pb::Process& p = image.root().process;
  int devnull_fd = -1;
  for (const auto& fd : p.fds())
    if (p.files(static_cast<int>(fd.file())).path() == "/dev/null") devnull_fd = static_cast<int>(fd.fd());
  ASSERT_GE(devnull_fd, 0);
  pb::File* epoll = nullptr;
  for (auto& f : *p.mutable_files())
    if (f.kind() == pb::FILE_EPOLL && f.epoll().watches_size() == kAnonEpollWatches) epoll = &f;
  ASSERT_NE(epoll, nullptr);
  auto* w = epoll->mutable_epoll()->add_watches();
  w->set_tfd(static_cast<uint32_t>(devnull_fd));
  w->set_events(EPOLLIN);
  try {
    restore_process(image);
    FAIL() << "restore succeeded";
  } catch (const EngineError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("epoll_ctl ADD fd " + std::to_string(devnull_fd)), std::string::npos) << msg;
    EXPECT_NE(msg.find("EPERM"), std::string::npos) << msg;
  }
  EXPECT_FALSE(alive(v.pid)) << "a half-restored process was left behind";
  int status;
  EXPECT_EQ(waitpid(v.pid, &status, WNOHANG), -1) << "a zombie was left behind";
  v.pid = -1;
}

namespace {

// Forks a child that closes every fd, runs `setup` (its fds then start at 0)
// and sleeps; dump must fail naming `want` and leave the child as it was.
template <typename Setup>
void expect_refused(Setup setup, const std::vector<std::string>& want) {
  ChildPid v;
  v.pid = fork();
  ASSERT_GE(v.pid, 0);
  if (v.pid == 0) {
    syscall(SYS_close_range, 0, ~0u, 0);
    if (!setup()) _exit(1);
    for (;;) pause();
  }
  ASSERT_TRUE(wait_sleeping(v.pid));
  try {
    dump_process(v.pid);
    ADD_FAILURE() << "dump succeeded";
  } catch (const EngineError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("pid " + std::to_string(v.pid) + " fd "), std::string::npos) << msg;
    for (const auto& w : want) EXPECT_NE(msg.find(w), std::string::npos) << w << " in: " << msg;
  }
  EXPECT_TRUE(alive(v.pid));
  EXPECT_TRUE(wait_sleeping(v.pid));
  EXPECT_EQ(proc_status_field(v.pid, "TracerPid"), "0");
}

bool watch(int ep, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0;
}

}  // namespace

TEST(AnonFdsUnsupported, TimerfdOnAnAlarmClock) {
  expect_refused([] { return timerfd_create(CLOCK_BOOTTIME_ALARM, 0) == 0; },
                 {"fd 0 (anon_inode:[timerfd])", "CLOCK_BOOTTIME_ALARM", "not supported"});
}

TEST(AnonFdsUnsupported, EpollWatchingASocket) {
  expect_refused(
      [] {
        int sv[2];
        return epoll_create1(0) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && sv[0] == 1 && watch(0, 1);
      },
      {"fd 0 (anon_inode:[eventpoll]): watches fd 1 (socket:[", "not supported"});
}

// The watch is keyed by (file, 1) but fd 1 was closed; the file lives on as fd 2.
TEST(AnonFdsUnsupported, EpollWatchUnderAClosedNumber) {
  expect_refused([] { return epoll_create1(0) == 0 && eventfd(0, 0) == 1 && watch(0, 1) && dup(1) == 2 && close(1) == 0; },
                 {"fd 0 (anon_inode:[eventpoll]): watches fd 1, which was closed", "not supported"});
}

TEST(AnonFdsUnsupported, OtherAnonymousInodes) {
  expect_refused([] { return syscall(SYS_inotify_init1, 0) == 0; }, {"fd 0 (anon_inode:inotify)", "not supported"});
}
