// Victims for external engines are exec'd in the caller's mount namespace, in a session
// of their own, holding no fd of the caller: what CRIU needs to dump them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "flakelab/scenarios/fresh_victim.h"
#include "flakelab/scenarios/scenario.h"
#include "flakelab/victims/socket_victims.h"
#include "flakelab/victims/victims.h"

using namespace flakelab::scenarios;
namespace victims = flakelab::victims;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The mount id of the file behind /proc/PID/exe, as CRIU reads it (fdinfo's mnt_id).
int exe_mount_id(pid_t pid) {
  const int fd = ::open(("/proc/" + std::to_string(pid) + "/exe").c_str(), O_PATH);
  if (fd < 0) return -1;
  std::istringstream info(read_text("/proc/self/fdinfo/" + std::to_string(fd)));
  ::close(fd);
  std::string key;
  int id = -1;
  while (info >> key) {
    if (key == "mnt_id:") info >> id;
  }
  return id;
}

// Whether /proc/self/mountinfo lists mount `id` (CRIU: "Can't lookup mount=ID" if not).
bool listed_in_mountinfo(int id) {
  std::istringstream mounts(read_text("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(mounts, line))
    if (std::stoi(line) == id) return true;
  return false;
}

TrialContext scm06_context() {
  TrialContext ctx;
  for (const ParamSpec& p : find_scenario("scm06")->params()) ctx.params[p.name] = p.default_value;
  return ctx;
}

}  // namespace

TEST(FreshVictim, IsExecdInItsOwnSessionWithoutOurFds) {
  // fd 200, not CLOEXEC: a fork would inherit it (cr/memory's victim closes nothing itself).
  const int extra = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(extra, 0);
  ASSERT_EQ(::dup2(extra, 200), 200);
  ::close(extra);
  TrialContext ctx;
  for (const ParamSpec& p : find_scenario("cr/memory")->params()) ctx.params[p.name] = p.default_value;
  const pid_t pid = start_fresh_victim(ctx, "cr/memory", ::testing::TempDir(), nullptr);
  ::close(200);
  const std::string proc = "/proc/" + std::to_string(pid);
  const std::string cmdline = read_text(proc + "/cmdline");
  EXPECT_NE(cmdline.find(kFreshVictimArg), std::string::npos) << cmdline;
  EXPECT_EQ(getsid(pid), pid);
  EXPECT_NE(::access((proc + "/fd/200").c_str(), F_OK), 0) << "fd 200 was inherited";
  EXPECT_EQ(kill(pid, SIGUSR1), 0);
  EXPECT_EQ(victims::wait_exit(pid), 0) << "the memory victim's own check";
}

TEST(FreshVictim, UnknownScenarioIsAClearError) {
  try {
    start_fresh_victim(scm06_context(), "no-such-scenario", "x", nullptr);
    FAIL() << "started a victim of no scenario";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("did not start"), std::string::npos) << e.what();
  }
}

// In a mount namespace made after this program started (as a trial's), a forked victim's
// executable is on a mount that namespace does not list; a fresh victim's is.
TEST(FreshVictim, ExecutableIsOnAMountOfTheNewNamespace) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Never back into gtest from this fork; the salt keeps the names apart from earlier
    // runs' victims, whose sockets the collector may not have freed yet.
    try {
      if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(10);
      const std::string salt = "fresh-ns-" + std::to_string(getpid());
      const pid_t forked = victims::start_scm06_victim(salt + "-forked");
      const int forked_mount = exe_mount_id(forked);
      victims::kill_child(forked);
      if (forked_mount < 0) _exit(11);
      if (listed_in_mountinfo(forked_mount)) _exit(12);  // the premise: the old mount is not listed
      const pid_t fresh = start_fresh_victim(scm06_context(), "scm06", salt + "-fresh", nullptr);
      const int fresh_mount = exe_mount_id(fresh);
      victims::kill_child(fresh);
      _exit(listed_in_mountinfo(fresh_mount) ? 0 : 13);
    } catch (const std::exception& e) {
      dprintf(2, "%s\n", e.what());
      _exit(14);
    }
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: unshare, 11: no mnt_id, 12: forked victim's mount is listed, 13: fresh "
                                       "victim's mount is not listed, 14: a victim did not start";
}
