#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "flakelab/base/child_process.h"
#include "flakelab/base/os_error.h"
#include "flakelab/base/temp_dir.h"

namespace flakelab::base {
namespace {

bool exists(pid_t pid) { return ::kill(pid, 0) == 0; }

TEST(ChildProcess, ForgottenChildIsKilledAndReaped) {
  pid_t pid;
  {
    ChildProcess child = ChildProcess::fork([] { ::pause(); });
    pid = child.pid();
    EXPECT_TRUE(child.alive());
  }
  EXPECT_FALSE(exists(pid));  // reaped, not a zombie
}

TEST(ChildProcess, WaitReturnsTheStatusOnce) {
  ChildProcess child = ChildProcess::fork([] { ::_exit(7); });
  int status = child.wait();
  EXPECT_EQ(describe_wait_status(status), "exited with status 7");
  EXPECT_TRUE(child.reaped());
  EXPECT_FALSE(child.alive());
  EXPECT_THROW(child.wait(), OsError);
  child.kill();  // a reaped child is no error
}

TEST(ChildProcess, ThrowingBodyExits120) {
  ChildProcess child = ChildProcess::fork([] { throw std::runtime_error("x"); });
  EXPECT_EQ(describe_wait_status(child.wait()), "exited with status 120");
}

TEST(ChildProcess, KillAndMoveAssign) {
  ChildProcess a = ChildProcess::fork([] { ::pause(); });
  ChildProcess b = ChildProcess::fork([] { ::pause(); });
  pid_t first = a.pid();
  a = std::move(b);  // the first child goes
  EXPECT_FALSE(exists(first));
  EXPECT_FALSE(b.owns());
  a.kill();
  int status = a.wait();
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

TEST(TempDir, IsCreatedAndRemovedWithItsContents) {
  std::string path;
  {
    TempDir dir("", "flakelab-base-test-");
    path = dir.path();
    std::ofstream(path + "/file") << "x";
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
  }
  struct stat st {};
  EXPECT_NE(::stat(path.c_str(), &st), 0);
}

TEST(TempDir, AMissingParentIsAnErrorNamingThePattern) {
  try {
    TempDir dir("/no/such/dir", "x-");
    FAIL();
  } catch (const OsError& e) {
    EXPECT_EQ(e.error_number(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("mkdtemp /no/such/dir/x-XXXXXX"), std::string::npos);
  }
}

}  // namespace
}  // namespace flakelab::base
