#include "flakelab/base/procfs.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <gtest/gtest.h>

#include "flakelab/base/os_error.h"
#include "flakelab/base/unique_fd.h"

namespace flakelab::base::procfs {
namespace {

TEST(Procfs, ReadsOwnStatusAndStat) {
  auto st = read_status(getpid());
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->tgid, getpid());
  EXPECT_FALSE(st->kernel_thread);
  EXPECT_EQ(st->state, 'R');
  EXPECT_EQ(status_field(getpid(), "Tgid"), std::to_string(getpid()));
  EXPECT_EQ(status_field(getpid(), "NoSuchKey"), "");
  auto stat = stat_fields(getpid());
  ASSERT_GT(stat.size(), 2u);
  EXPECT_EQ(stat[0], "R");
  EXPECT_EQ(stat[1], std::to_string(getppid()));
}

TEST(Procfs, ListsThreadsAndFds) {
  auto tids = list_threads(getpid());
  EXPECT_NE(std::find(tids.begin(), tids.end(), getpid()), tids.end());
  UniqueFd fd(::open("/", O_RDONLY | O_CLOEXEC));
  auto fds = list_fds(getpid());
  EXPECT_TRUE(std::is_sorted(fds.begin(), fds.end()));
  EXPECT_NE(std::find(fds.begin(), fds.end(), fd.get()), fds.end());
  EXPECT_EQ(read_link("/proc/self/fd/" + std::to_string(fd.get())), "/");
}

TEST(Procfs, ListsProcessesAndNamesFdLinks) {
  std::vector<pid_t> pids = list_pids();
  EXPECT_TRUE(std::is_sorted(pids.begin(), pids.end()));
  EXPECT_TRUE(std::binary_search(pids.begin(), pids.end(), getpid()));
  EXPECT_TRUE(std::binary_search(pids.begin(), pids.end(), 1));
  UniqueFd fd(::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  EXPECT_EQ(fd_path(getpid(), fd.get()), "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd.get()));
  EXPECT_EQ(read_link(fd_path(getpid(), fd.get())), "/proc");
}

TEST(Procfs, ListsChildrenOfEveryThread) {
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  ASSERT_GT(child, 0);
  std::vector<pid_t> children = list_children(getpid());
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(std::binary_search(children.begin(), children.end(), child));
  EXPECT_TRUE(std::is_sorted(children.begin(), children.end()));
}

TEST(Procfs, AGoneProcessHasNoStatusAndNoLists) {
  EXPECT_FALSE(read_status(0x3fffffff).has_value());
  EXPECT_TRUE(list_threads(0x3fffffff).empty());
  EXPECT_TRUE(list_fds(0x3fffffff).empty());
}

TEST(Procfs, ErrorsNameThePathAndErrno) {
  try {
    read_file("/proc/no-such-file");
    FAIL();
  } catch (const OsError& e) {
    EXPECT_EQ(e.error_number(), ENOENT);
    EXPECT_STREQ(e.what(), "open /proc/no-such-file: No such file or directory (ENOENT)");
  }
}

TEST(Procfs, MapsHoldTheStack) {
  auto maps = read_maps(getpid(), true);
  ASSERT_FALSE(maps.empty());
  EXPECT_TRUE(std::is_sorted(maps.begin(), maps.end(), [](auto& a, auto& b) { return a.start < b.start; }));
  auto stack = std::find_if(maps.begin(), maps.end(), [](const MapEntry& m) { return m.path == "[stack]"; });
  ASSERT_NE(stack, maps.end());
  EXPECT_TRUE(stack->growsdown);
}

}  // namespace
}  // namespace flakelab::base::procfs
