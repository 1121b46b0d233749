// Dump/restore of process trees: the victims of tree_victims.h check pids,
// parents, sessions, groups, shared objects and zombies themselves; the tests
// also compare what /proc says before and after, and check with kcmp that
// shared files are one object again.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "flakelab/engine/dump.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/restore.h"
#include "flakelab/engine/show.h"
#include "flakelab/victims/tree_victims.h"
#include "flakelab/victims/victims.h"
#include "test_support.h"

using namespace flakelab::engine;
using namespace flakelab::engine::testing;

namespace {

// Kills and reaps the victim, and first every descendant it has then (they
// would outlive it if something failed before they asked for a parent-death
// signal).
struct TreeChild {
  pid_t pid = -1;
  ~TreeChild() {
    if (pid > 0)
      for (pid_t d : descendants(pid)) kill(d, SIGKILL);
    kill_child(pid);
  }
};


// ppid, pgid, sid and state of a process, from /proc/PID/stat.
struct Ids {
  pid_t ppid = 0, pgid = 0, sid = 0;
  char state = '?';
  bool operator==(const Ids& o) const { return ppid == o.ppid && pgid == o.pgid && sid == o.sid && state == o.state; }
};

Ids ids_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Ids ids;
  size_t close = text.rfind(')');
  if (close == std::string::npos) return ids;
  std::istringstream rest(text.substr(close + 2));
  rest >> ids.state >> ids.ppid >> ids.pgid >> ids.sid;
  return ids;
}

// The whole tree: pid -> ids (sleeping processes read 'S', zombies 'Z').
std::map<pid_t, Ids> snapshot(pid_t root) {
  std::map<pid_t, Ids> out;
  out[root] = ids_of(root);
  for (pid_t p : descendants(root)) out[p] = ids_of(p);
  return out;
}

bool wait_tree_sleeping(pid_t root) {
  if (!wait_sleeping(root)) return false;
  for (pid_t p : descendants(root))
    if (ids_of(p).state != 'Z' && !wait_all_sleeping(p)) return false;
  return true;
}

bool exists(pid_t pid) { return kill(pid, 0) == 0; }  // zombies too


bool same_file(pid_t a, int fa, pid_t b, int fb) { return syscall(SYS_kcmp, a, b, KCMP_FILE, fa, fb) == 0; }

// Dump (kill), check every process and pid is gone at once, restore (through an
// image directory when `dir` is given, written by the dump itself when
// `dump_into_dir`) and check the tree is as before.
void cycle(pid_t root, const std::string& dir = "", bool dump_into_dir = false) {
  ASSERT_TRUE(wait_tree_sleeping(root));
  auto before = snapshot(root);
  Image image = dump_into_dir ? dump_process_to_dir(root, dir) : dump_process(root);
  EXPECT_EQ(image.tree.processes_size(), static_cast<int>(before.size()));
  for (const auto& [pid, ids] : before) EXPECT_FALSE(exists(pid)) << "pid " << pid << " is still there after the dump";
  if (!dir.empty()) {
    if (!dump_into_dir) write_image_dir(image, dir);
    // As the CLI reads it: the pages of every process checked as restore copies them.
    image = read_image_dir(dir, dump_into_dir ? PagesCheck::kByRestore : PagesCheck::kNow);
  }
  ASSERT_EQ(restore_process(image), root);
  ASSERT_TRUE(wait_tree_sleeping(root));
  auto after = snapshot(root);
  EXPECT_EQ(after.size(), before.size());
  for (const auto& [pid, ids] : before) {
    auto it = after.find(pid);
    ASSERT_NE(it, after.end()) << "pid " << pid << " was not restored";
    EXPECT_TRUE(it->second == ids) << "pid " << pid << ": ppid/pgid/sid/state " << it->second.ppid << "/"
                                   << it->second.pgid << "/" << it->second.sid << "/" << it->second.state
                                   << ", was " << ids.ppid << "/" << ids.pgid << "/" << ids.sid << "/" << ids.state;
  }
}

int tracer_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("TracerPid:", 0) == 0) return std::stoi(line.substr(10));
  return -1;
}

void expect_intact(const std::map<pid_t, Ids>& tree) {
  for (const auto& [pid, ids] : tree) {
    EXPECT_TRUE(exists(pid)) << "pid " << pid;
    EXPECT_EQ(tracer_of(pid), 0) << "pid " << pid << " is still traced";
    Ids now = ids_of(pid);
    EXPECT_TRUE(now.ppid == ids.ppid && now.pgid == ids.pgid && now.sid == ids.sid) << "pid " << pid << " changed";
  }
}

}  // namespace

TEST(Trees, ChildrenAndGrandchildrenKeepPidsParentsMemoryAndThreads) {
  TreeChild v{start_tree_victim()};
  ASSERT_EQ(descendants(v.pid).size(), 4u);
  cycle(v.pid);
  EXPECT_EQ(thread_ids(descendants(v.pid)[0]).size(), 2u) << "child A lost its second thread";
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(Trees, RepeatedCyclesThroughImageDirectories) {
  flakelab::base::TempDir tmp("/tmp", "flk-tree-");
  TreeChild v{start_tree_victim()};
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE("cycle " + std::to_string(i));
    cycle(v.pid, tmp.path() + "/img" + std::to_string(i));
  }
  Image image = read_image_dir(tmp.path() + "/img2");
  std::string text = show_image_text(image);
  EXPECT_NE(text.find("tree: 5 processes"), std::string::npos) << text;
  EXPECT_NE(show_image_json(image).find("\"processes\""), std::string::npos);
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(Trees, RepeatedCyclesDumpingStraightIntoTheDirectory) {
  flakelab::base::TempDir tmp("/tmp", "flk-tree-");
  TreeChild v{start_tree_victim()};
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE("cycle " + std::to_string(i));
    cycle(v.pid, tmp.path() + "/img", true);
  }
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(Trees, SessionsAndGroupsSurvive) {
  TreeChild v{start_session_victim()};
  ASSERT_TRUE(wait_tree_sleeping(v.pid));
  auto tree = snapshot(v.pid);
  ASSERT_EQ(tree.size(), 8u);
  int leaders = 0, group_leaders = 0;
  for (const auto& [pid, ids] : tree) {
    leaders += ids.sid == pid;
    group_leaders += ids.pgid == pid && ids.sid != pid;
  }
  EXPECT_EQ(leaders, 1);
  EXPECT_EQ(group_leaders, 2);
  cycle(v.pid);
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(Trees, PipesFifoAndEventfdSharedWithAChildAreOneObjectAgain) {
  flakelab::base::TempDir tmp("/tmp", "flk-tree-");
  TreeChild v{start_shared_files_victim(tmp.path())};
  cycle(v.pid);
  pid_t child = descendants(v.pid).at(0);
  EXPECT_TRUE(same_file(v.pid, kSharedEventfd, child, kSharedEventfd));
  struct stat w, r;
  ASSERT_EQ(stat(("/proc/" + std::to_string(v.pid) + "/fd/" + std::to_string(kSharedToChildWrite)).c_str(), &w), 0);
  ASSERT_EQ(stat(("/proc/" + std::to_string(child) + "/fd/" + std::to_string(kSharedToChildRead)).c_str(), &r), 0);
  EXPECT_EQ(w.st_ino, r.st_ino) << "the two ends are not one pipe";
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(Trees, UnixSocketsAcrossParentAndChildAreOneObjectAgain) {
  TreeChild v{start_tree_socket_victim()};
  cycle(v.pid);
  pid_t child = descendants(v.pid).at(0);
  EXPECT_TRUE(same_file(v.pid, kTreeSockShared, child, kTreeSockShared));
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(Trees, LeaveRunningConsumesNothingInTreeSockets) {
  TreeChild v{start_tree_socket_victim()};
  ASSERT_TRUE(wait_tree_sleeping(v.pid));
  auto before = snapshot(v.pid);
  Image image = dump_process(v.pid, {.leave_running = true});
  EXPECT_EQ(image.tree.processes_size(), 2);
  // Every socket recorded once, with the root.
  ASSERT_EQ(image.processes.size(), 2u);
  EXPECT_EQ(image.processes[1].process.unix_sockets_size(), 0);
  EXPECT_EQ(image.root().process.unix_sockets_size(), 6);  // the pair, the shared one, the unnamed one, the child's pair
  // The child's socket in flight in the parent's queue is one the child holds.
  std::string shown = show_image_text(image);
  EXPECT_EQ(shown.find("(in flight only)"), std::string::npos) << shown;
  expect_intact(before);
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(Trees, LeaveRunningConsumesNothingInSharedObjects) {
  flakelab::base::TempDir tmp("/tmp", "flk-tree-");
  TreeChild v{start_shared_files_victim(tmp.path())};
  ASSERT_TRUE(wait_tree_sleeping(v.pid));
  auto before = snapshot(v.pid);
  Image image = dump_process(v.pid, {.leave_running = true});
  EXPECT_EQ(image.tree.processes_size(), 2);
  expect_intact(before);
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(Trees, LeaveRunningKeepsTheTreeIntact) {
  TreeChild v{start_tree_victim()};
  ASSERT_TRUE(wait_tree_sleeping(v.pid));
  auto before = snapshot(v.pid);
  Image image = dump_process(v.pid, {.leave_running = true});
  EXPECT_EQ(image.tree.processes_size(), 5);
  expect_intact(before);
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(Trees, FileOffsetSharedThroughForkStaysShared) {
  flakelab::base::TempDir tmp("/tmp", "flk-tree-");
  TreeChild v{start_shared_offset_victim(tmp.path())};
  cycle(v.pid);
  EXPECT_TRUE(same_file(v.pid, 20, descendants(v.pid).at(0), 20));
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(Trees, UnreapedZombiesKeepTheirExitStatus) {
  TreeChild v{start_zombie_victim()};
  ASSERT_TRUE(wait_tree_sleeping(v.pid));
  Image image = dump_process(v.pid, {.leave_running = true});
  int zombies = 0;
  for (const auto& r : image.tree.processes()) zombies += r.zombie();
  EXPECT_EQ(zombies, 2);
  kill_child(v.pid);
  TreeChild again{start_zombie_victim()};
  cycle(again.pid);
  for (pid_t z : descendants(again.pid)) EXPECT_EQ(ids_of(z).state, 'Z');
  ASSERT_EQ(kill(again.pid, SIGUSR1), 0);
  EXPECT_EQ(exit_code(again.pid), kVictimOk);
  again.pid = -1;
  v.pid = -1;
}

TEST(Trees, ChildrenForkedDuringTheDumpAreTakenAlong) {
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    TreeChild v{start_forking_victim()};
    // Mid-stream: it keeps forking while we dump. Its first child is waited for, so
    // that a loaded machine (a sanitizer build beside the tests) cannot make the
    // dump come before any fork at all.
    for (int waited = 0; descendants(v.pid).empty() && waited < 5000; ++waited) usleep(1000);
    usleep(2000 * (round + 1));
    Image image = dump_process(v.pid);
    EXPECT_GE(image.tree.processes_size(), 2);
    ASSERT_EQ(restore_process(image), v.pid);
    // It goes on forking once restored: at least those it had.
    EXPECT_GE(descendants(v.pid).size(), static_cast<size_t>(image.tree.processes_size() - 1));
    ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
    EXPECT_EQ(exit_code(v.pid), kVictimOk);
    v.pid = -1;
  }
}

TEST(TreeRefusal, UnsupportedFileInAGrandchildLeavesEveryProcessIntact) {
  TreeChild v{start_victim("socket grandchild", [](int ready) {
    ready = clean_victim_fds(ready);
    int sync[2];
    if (pipe2(sync, O_CLOEXEC) != 0) _exit(1);
    pid_t child = fork();
    if (child == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      pid_t grandchild = fork();
      if (grandchild == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        // A packet socket: not dumped (AF_UNIX and AF_INET/AF_INET6 sockets are).
        if (socket(AF_PACKET, SOCK_DGRAM, 0) < 0 || write(sync[1], "r", 1) != 1) _exit(1);
        for (;;) pause();
      }
      for (;;) pause();
    }
    char c;
    if (read(sync[0], &c, 1) != 1 || write(ready, "r", 1) != 1) _exit(1);
    for (;;) pause();
  })};
  ASSERT_TRUE(wait_tree_sleeping(v.pid));
  auto before = snapshot(v.pid);
  ASSERT_EQ(before.size(), 3u);
  pid_t grandchild = descendants(v.pid).at(1);
  try {
    dump_process(v.pid);
    FAIL() << "dump succeeded";
  } catch (const EngineError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("pid " + std::to_string(grandchild) + " fd "), std::string::npos) << msg;
    EXPECT_NE(msg.find("socket:["), std::string::npos) << msg;
    EXPECT_NE(msg.find("AF_PACKET socket: this socket family is not supported yet"), std::string::npos) << msg;
  }
  expect_intact(before);
}

TEST(TreeRefusal, GroupLedFromOutsideTheTreeLeavesEveryProcessIntact) {
  // A group leader that is not part of the dumped tree (our other child).
  TreeChild outsider{start_victim("outside group leader", [](int ready) {
    ready = clean_victim_fds(ready);
    setpgid(0, 0);
    if (write(ready, "r", 1) != 1) _exit(1);
    for (;;) pause();
  })};
  pid_t group = outsider.pid;
  TreeChild v{start_victim("member of an outside group", [group](int ready) {
    ready = clean_victim_fds(ready);
    pid_t child = fork();
    if (child == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (setpgid(0, group) != 0) _exit(1);
      for (;;) pause();
    }
    while (getpgid(child) != group) usleep(100);
    if (write(ready, "r", 1) != 1) _exit(1);
    for (;;) pause();
  })};
  ASSERT_TRUE(wait_tree_sleeping(v.pid));
  auto before = snapshot(v.pid);
  try {
    dump_process(v.pid);
    FAIL() << "dump succeeded";
  } catch (const EngineError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("group " + std::to_string(group) + " whose leader is not in the tree"), std::string::npos) << msg;
  }
  expect_intact(before);
}

TEST(TreeRefusal, FailureLateInADescendantLeavesNothingBehind) {
  TreeChild v{start_tree_victim()};
  ASSERT_TRUE(wait_tree_sleeping(v.pid));
  auto before = snapshot(v.pid);
  Image image = dump_process(v.pid);
  // The last process's XSAVE header in compacted format: PTRACE_SETREGSET refuses
  // it in the very last step, after every process was created and rebuilt.
  auto& last = image.processes.back().process;
  std::string xs = last.threads(0).xstate();
  uint64_t xcomp_bv = 1ull << 63;
  std::memcpy(xs.data() + 512 + 8, &xcomp_bv, 8);
  last.mutable_threads(0)->set_xstate(xs);
  try {
    restore_process(image);
    FAIL() << "restore succeeded";
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find("NT_X86_XSTATE"), std::string::npos) << e.what();
  }
  for (const auto& [pid, ids] : before) EXPECT_FALSE(exists(pid)) << "pid " << pid << " was left behind";
  v.pid = -1;
}
