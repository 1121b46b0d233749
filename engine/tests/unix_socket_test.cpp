// Dump/restore of AF_UNIX sockets, files in flight and the SCM06 race: the
// victims (socket_victims.h) check names, peers, data and files themselves.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include "flakelab/base/build_flavor.h"
#include "flakelab/base/temp_dir.h"
#include "flakelab/engine/dump.h"
#include "flakelab/engine/error.h"
#include "flakelab/engine/restore.h"
#include "flakelab/engine/show.h"
#include "flakelab/victims/socket_victims.h"
#include "flakelab/victims/victims.h"

using namespace flakelab::engine;
using namespace flakelab::victims;
using namespace std::chrono_literals;

namespace {

struct ChildPid {
  pid_t pid = -1;
  ~ChildPid() { kill_child(pid); }
};

std::string status_field(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return line.substr(line.find_first_not_of(" \t", key.size() + 1));
  return "";
}

// SIGUSR1 once the restored victim sleeps again; its exit code (-1: no exit).
int check(pid_t pid) {
  EXPECT_TRUE(wait_sleeping(pid));
  kill(pid, SIGUSR1);
  int status = wait_exit(pid);
  EXPECT_TRUE(WIFEXITED(status)) << "status " << status;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int restore_and_check(pid_t pid, const Image& image, const RestoreOptions& o = {}, RestoreStats* stats = nullptr) {
  pid_t back = restore_process(image, o, stats);
  EXPECT_EQ(back, pid);
  return check(pid);
}

int count_in_flight_only(const pb::Process& p) {
  std::set<uint32_t> held;
  for (const auto& fd : p.fds()) held.insert(fd.file());
  int n = 0;
  for (int i = 0; i < p.files_size(); ++i)
    n += p.files(i).kind() == pb::FILE_UNIX_SOCKET && !held.count(static_cast<uint32_t>(i));
  return n;
}

std::string salt() {
  static int n = 0;
  return std::to_string(getpid()) + "-" + std::to_string(++n);
}

const std::regex kBindError(R"(unix: Can't bind id 0x[0-9a-f]+ ino [0-9]+ addr : Address already in use)");

}  // namespace

TEST(UnixSockets, NamesPeersQueuesBacklogShutdownAndOptionsSurvive) {
  flakelab::base::TempDir dir("/tmp", "flk-sock-");
  ChildPid v{start_socket_victim(dir.path())};
  Image image = dump_process(v.pid);
  const pb::Process& p = image.root().process;
  int listeners = 0, pending = 0, dgrams = 0, queued = 0;
  for (const auto& s : p.unix_sockets()) {
    listeners += s.state() == 10;
    pending += s.listener() != 0;
    dgrams += s.type() == SOCK_DGRAM;
    queued += s.queue_size();
  }
  EXPECT_EQ(listeners, 1);
  EXPECT_EQ(pending, 2);
  EXPECT_GE(dgrams, 4);
  EXPECT_GE(queued, 12);
  std::string text = show_image_text(image);
  EXPECT_NE(text.find("@flk\\0dg\\0"), std::string::npos) << text;
  EXPECT_NE(text.find("pending in #"), std::string::npos) << text;
  EXPECT_NE(show_image_json(image).find("unix_sockets"), std::string::npos);
  // Through an image directory, as the CLI does.
  write_image_dir(image, dir.path() + "/img");
  Image back = read_image_dir(dir.path() + "/img");
  EXPECT_EQ(restore_and_check(v.pid, back), kVictimOk);
  v.pid = -1;
}

TEST(UnixSockets, FilesInFlightIncludingSocketsOnlyInFlightAndSelfLoops) {
  flakelab::base::TempDir dir("/tmp", "flk-sock-");
  ChildPid v{start_flight_victim(dir.path())};
  Image image = dump_process(v.pid);
  EXPECT_EQ(count_in_flight_only(image.root().process), 1);  // the socket that exists only in flight
  EXPECT_EQ(restore_and_check(v.pid, image), kVictimOk);
  v.pid = -1;
}

TEST(UnixSockets, LeaveRunningConsumesNothing) {
  flakelab::base::TempDir dir("/tmp", "flk-sock-");
  ChildPid v{start_flight_victim(dir.path())};
  Image image = dump_process(v.pid, {.leave_running = true});
  EXPECT_EQ(status_field(v.pid, "TracerPid"), "0");
  Image again = dump_process(v.pid, {.leave_running = true});  // same queues again: nothing was consumed
  ASSERT_EQ(image.root().process.unix_sockets_size(), again.root().process.unix_sockets_size());
  for (int i = 0; i < image.root().process.unix_sockets_size(); ++i)
    EXPECT_EQ(image.root().process.unix_sockets(i).queue_size(), again.root().process.unix_sockets(i).queue_size());
  EXPECT_EQ(check(v.pid), kVictimOk);
  v.pid = -1;
}

TEST(UnixSockets, RingWithTwoSocketsOnlyInFlight) {
  ChildPid v{start_scm_ring_victim(salt())};
  Image image = dump_process(v.pid);
  EXPECT_EQ(count_in_flight_only(image.root().process), 2);
  RestoreStats stats;
  EXPECT_EQ(restore_and_check(v.pid, image, {}, &stats), kVictimOk);
  v.pid = -1;
}

TEST(UnixSockets, SocketQueuedInItself) {
  ChildPid v{start_scm_selfloop_victim(salt())};
  Image image = dump_process(v.pid);
  EXPECT_EQ(restore_and_check(v.pid, image), kVictimOk);
  v.pid = -1;
}

// The SCM06 race, fixed: 500 trials in a row pass with the default policy (100
// under ASan, where one trial costs ~150 ms).
TEST(Scm06, PassesFiveHundredTimesWithTheDefaultPolicy) {
  const int trials = flakelab::base::stress_trials(500, 100);
  std::chrono::nanoseconds waited{0};
  int waits = 0;
  for (int i = 0; i < trials; ++i) {
    ChildPid v{start_scm06_victim(salt())};
    Image image = dump_process(v.pid);
    RestoreStats stats;
    ASSERT_EQ(restore_and_check(v.pid, image, {}, &stats), kVictimOk) << "trial " << i;
    v.pid = -1;
    waited += stats.unix_gc_waited;
    waits += stats.unix_gc_waited.count() > 0;
  }
  std::printf("scm06: the unix-gc-wait policy waited in %d of %d restores, %.3f ms on average\n", waits, trials,
              std::chrono::duration<double, std::milli>(waited).count() / trials);
}

// The SCM06 race, reproduced: without the policy an immediate restore fails with
// CRIU's message (and leaves the victim's pid free).
TEST(Scm06, FailsWithCriusMessageWithoutThePolicy) {
  int failures = 0;
  std::string message;
  for (int i = 0; i < 50; ++i) {
    ChildPid v{start_scm06_victim(salt())};
    Image image = dump_process(v.pid);
    try {
      restore_process(image, {.unix_gc_wait = 0us});
      EXPECT_EQ(check(v.pid), kVictimOk);
      v.pid = -1;
    } catch (const EngineError& e) {
      ++failures;
      message = e.what();
      EXPECT_TRUE(std::regex_match(message, kBindError)) << message;
      EXPECT_NE(kill(v.pid, 0), 0);  // nothing half-restored is left
      v.pid = -1;
    }
  }
  std::printf("scm06 with unix_gc_wait=0: %d of 50 restores failed\n", failures);
  EXPECT_GE(failures, 1);
}

// A name held by a live socket is not waited for.
TEST(Scm06, LiveHolderFailsAtOnce) {
  std::string s = salt();
  ChildPid v{start_scm_selfloop_victim(s)};
  Image image = dump_process(v.pid);
  const std::string name = std::string("\0flk-self-", 10) + s;
  int holder = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, name.data(), name.size());
  auto deadline = std::chrono::steady_clock::now() + 10s;  // until the garbage collector frees it
  while (bind(holder, reinterpret_cast<sockaddr*>(&a), static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size())) != 0) {
    close(socket(AF_UNIX, SOCK_DGRAM, 0));  // releasing a unix socket schedules the collector
    std::this_thread::sleep_for(100us);
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
  }
  auto start = std::chrono::steady_clock::now();
  try {
    restore_process(image, {.unix_gc_wait = 20s});
    ADD_FAILURE() << "restore succeeded";
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find("a live socket"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // not the 20 s bound
  close(holder);
  v.pid = -1;
}

// A socket connected outside the process: refused (victim intact), or with
// ext_unix_sk reconnected by name.
TEST(UnixSockets, ExternalPeerIsRefusedUnlessAllowed) {
  const std::string name = std::string("\0flk-ext-", 9) + salt();
  int outside = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, name.data(), name.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  ASSERT_EQ(bind(outside, reinterpret_cast<sockaddr*>(&a), len), 0);
  ChildPid v{start_victim("ext victim", [&](int ready) {
    int r = fcntl(ready, F_DUPFD, 100);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (r < 0 || s < 0 || (s != 5 && dup2(s, 5) != 5)) _exit(100);
    ready = r;  // only fd 5 and the ready fd stay: `outside` must not be in the victim
    close_range(0, 4, 0);
    close_range(6, 99, 0);
    close_range(101, ~0u, 0);
    if (connect(5, reinterpret_cast<sockaddr*>(&a), len) != 0) _exit(101);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    if (write(ready, "r", 1) != 1) _exit(102);
    int sig;
    sigwait(&set, &sig);
    _exit(send(5, "hello", 5, 0) == 5 ? 0 : 103);
  })};
  try {
    dump_process(v.pid);
    ADD_FAILURE() << "dump succeeded";
  } catch (const EngineError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("pid " + std::to_string(v.pid) + " fd 5"), std::string::npos) << m;
    EXPECT_NE(m.find("@flk-ext-"), std::string::npos) << m;
    EXPECT_NE(m.find("--ext-unix-sk"), std::string::npos) << m;
  }
  EXPECT_EQ(status_field(v.pid, "TracerPid"), "0");
  Image image = dump_process(v.pid, {.ext_unix_sk = true});
  ASSERT_EQ(restore_process(image), v.pid);
  ASSERT_TRUE(wait_sleeping(v.pid));
  kill(v.pid, SIGUSR1);
  int status = wait_exit(v.pid);
  v.pid = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  char buf[16] = {};
  EXPECT_EQ(recv(outside, buf, sizeof(buf), MSG_DONTWAIT), 5);
  EXPECT_STREQ(buf, "hello");
  close(outside);
}

TEST(UnixSockets, OtherSocketFamiliesAreRefusedBeforeTouching) {
  ChildPid v{start_victim("packet victim", [](int ready) {
    int r = fcntl(ready, F_DUPFD, 100);
    close_range(0, 99, 0);
    close_range(101, ~0u, 0);
    ready = r;
    if (socket(AF_PACKET, SOCK_DGRAM, 0) < 0) _exit(100);
    if (write(ready, "r", 1) != 1) _exit(101);
    for (;;) pause();
  })};
  try {
    dump_process(v.pid);
    ADD_FAILURE() << "dump succeeded";
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find("AF_PACKET socket: this socket family is not supported yet"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(status_field(v.pid, "TracerPid"), "0");
}
