// FsIdentityScope (fs_identity.h): the calling thread alone opens files as the
// image's fs identity, and gets its own back.
#include "fs_identity.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "flakelab/base/temp_dir.h"
#include "flakelab/base/unique_fd.h"

using namespace flakelab::engine;

namespace {

constexpr uid_t kNobody = 65534;

// The fs uid of thread `tid` of this process (4th field of "Uid:").
std::string thread_fs_ids(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/status");
  std::string line, uid, gid, groups;
  while (std::getline(in, line)) {
    std::istringstream f(line.substr(line.find(':') + 1));
    std::string a, b, c, fs;
    if (line.rfind("Uid:", 0) == 0 && (f >> a >> b >> c >> fs)) uid = fs;
    if (line.rfind("Gid:", 0) == 0 && (f >> a >> b >> c >> fs)) gid = fs;
    if (line.rfind("Groups:", 0) == 0) groups = line.substr(7);
  }
  while (!groups.empty() && (groups.back() == ' ' || groups.back() == '\t')) groups.pop_back();
  while (!groups.empty() && (groups.front() == ' ' || groups.front() == '\t')) groups.erase(0, 1);
  return uid + "/" + gid + "/" + groups;
}

pid_t gettid_() { return static_cast<pid_t>(syscall(SYS_gettid)); }

}  // namespace

TEST(FsIdentity, ReadFromProcMatchesTheCallingThread) {
  FsIdentity mine = current_fs_identity();
  FsIdentity read = read_fs_identity(getpid());
  EXPECT_EQ(read.fsuid, mine.fsuid);
  EXPECT_EQ(read.fsgid, mine.fsgid);
  EXPECT_EQ(read.groups, mine.groups);
  pb::Process p;
  EXPECT_FALSE(recorded_fs_identity(p).has_value()) << "an image without the record opens as the restorer";
  record_fs_identity({kNobody, kNobody, {5, 7}}, p);
  auto back = recorded_fs_identity(p);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->fsuid, kNobody);
  EXPECT_EQ(back->groups, (std::vector<gid_t>{5, 7}));
}

TEST(FsIdentity, ScopeSwitchesOnlyThisThreadAndSwitchesBack) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (CAP_SETUID/CAP_SETGID)";
  flakelab::base::TempDir tmp("/tmp", "flk-fsid-");
  ASSERT_EQ(chmod(tmp.path().c_str(), 0755), 0);
  const std::string secret = tmp.path() + "/secret";
  { std::ofstream(secret) << "root only"; }
  ASSERT_EQ(chmod(secret.c_str(), 0600), 0);

  // Another thread, parked while this one switches: it must keep root's identity.
  std::mutex m;
  std::condition_variable cv;
  bool started = false, done = false;
  pid_t other = 0;
  std::thread t([&] {
    std::unique_lock lock(m);
    other = gettid_();
    started = true;
    cv.notify_all();
    cv.wait(lock, [&] { return done; });
  });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return started; });
  }
  const std::string before = thread_fs_ids(gettid_());
  {
    FsIdentityScope as_nobody(FsIdentity{kNobody, kNobody + 1, {12345}}, "test");
    EXPECT_EQ(thread_fs_ids(gettid_()), "65534/65535/12345");
    EXPECT_EQ(thread_fs_ids(other), before) << "another thread of the restorer changed identity too";
    flakelab::base::UniqueFd fd(open(secret.c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_FALSE(fd) << "a 0600 root file opened as fsuid 65534";
    EXPECT_EQ(errno, EACCES);
  }
  EXPECT_EQ(thread_fs_ids(gettid_()), before);
  flakelab::base::UniqueFd fd(open(secret.c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(fd) << "root's file capabilities did not come back";
  {
    std::lock_guard lock(m);
    done = true;
  }
  cv.notify_all();
  t.join();
  {
    FsIdentityScope none(std::nullopt, "test");
    EXPECT_EQ(thread_fs_ids(gettid_()), before);
  }
}
