// If the injector is SIGKILLed at any step, the victim must keep running intact:
// registers, memory and code (the echo victim checks those), and everything
// /proc shows of it: maps, fds, each thread's blocked signals and CPU mask; not
// traced, not stopped. The kernel detaches it; what compel changed is undone by
// the victim side (return frame, undo code, the parasite leaving by itself).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <dirent.h>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "flakelab/compel/parasite.h"
#include "flakelab/compel/proc.h"
#include "flakelab/compel/remote_session.h"
#include "flakelab/compel/seized_process.h"
#include "echo_victim.h"

using namespace flakelab::compel;
using namespace flakelab::compel::testing;

namespace {

[[noreturn]] void die() {
  kill(getpid(), SIGKILL);
  for (;;) pause();
}

std::vector<std::string> dir_names(const std::string& path) {
  std::vector<std::string> out;
  if (DIR* d = opendir(path.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') out.push_back(e->d_name);
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string status_line(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return line;
  return "";
}

// Everything of the victim a killed injector could leave changed.
std::string snapshot(pid_t pid) {
  std::ostringstream out;
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find("[stack]") == std::string::npos) out << line.substr(0, line.find(' ', line.find(' ') + 1)) << " "
                                                       << line.substr(line.rfind(' ') + 1) << "\n";
  for (const auto& fd : dir_names("/proc/" + std::to_string(pid) + "/fd")) {
    char target[256] = {};
    readlink(("/proc/" + std::to_string(pid) + "/fd/" + fd).c_str(), target, sizeof(target) - 1);
    out << "fd " << fd << " " << target << "\n";
  }
  for (const auto& tid : dir_names("/proc/" + std::to_string(pid) + "/task")) {
    std::string st = "/proc/" + std::to_string(pid) + "/task/" + tid + "/status";
    out << tid << " " << status_line(st, "SigBlk") << " " << status_line(st, "Cpus_allowed_list") << " "
        << status_line(st, "TracerPid") << " " << status_line(st, "State").substr(0, 8) << "\n";
  }
  return out.str();
}

// Waits (undoing is asynchronous: a parasite noticing its socket closed) until the
// victim looks as before; returns what it looks like then.
std::string settled_snapshot(pid_t pid, const std::string& want) {
  std::string now;
  for (int i = 0; i < 500; ++i) {
    now = snapshot(pid);
    if (now == want) break;
    usleep(2000);
  }
  return now;
}

// One whole injection: remote syscalls in a session, then a parasite with a command.
void inject(pid_t victim, const InfectOptions& opt) {
  SeizedProcess p(victim);
  {
    RemoteSession rs(p.leader());
    for (int i = 0; i < 3; ++i) rs.syscall(SYS_getppid);
  }
  Parasite parasite(p, default_parasite_blob(), opt);
  parasite.get_sigactions();
  parasite.cure();
}

class InjectorDeath : public ::testing::TestWithParam<std::string> {};

TEST_P(InjectorDeath, VictimSurvivesIntact) {
  const std::string when = GetParam();
  EchoVictim v = EchoVictim::start();
  ASSERT_EQ(v.echo(1), kRegsIntact | kMemoryIntact);
  pid_t victim = v.child.pid();
  ASSERT_TRUE(wait_until_sleeping(victim));
  const std::string before = snapshot(victim);
  for (int round = 0; round < 5; ++round) {
    ASSERT_TRUE(wait_until_sleeping(victim));
    Child injector([&] {
      SeizedProcess p(victim);
      if (when == "seized") die();
      InfectOptions opt;
      opt.on_step = [&](std::string_view step) {
        if (step == when) die();
      };
      Parasite parasite(p, default_parasite_blob(), opt);
      parasite.get_sigactions();
      if (when == "daemon-running") die();
      parasite.cure();
      _exit(10);  // the chosen step never came
    });
    int status = injector.wait();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "injector did not die at step " << when << " (status " << status << ")";
    EXPECT_EQ(settled_snapshot(victim, before), before) << "after the injector died at step " << when;
    ASSERT_EQ(v.echo(static_cast<uint32_t>(100 + round)), kRegsIntact | kMemoryIntact)
        << "victim damaged after the injector died at step " << when << ", round " << round;
  }
  EXPECT_NE(process_state(victim), 'Z');
}

INSTANTIATE_TEST_SUITE_P(AtEveryStep, InjectorDeath,
                         ::testing::Values("seized", "mapped", "started", "daemon-running", "fini-acked",
                                           "taken-back", "unmapped"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

// Every state change of every remote syscall and of the parasite's life, in turn:
// the injector dies at the K-th RemoteSession step (K = 1, 2, ...) until an
// injection runs to its end.
TEST(InjectorDeathEachStep, VictimSurvivesAKillAtEveryStateChange) {
  EchoVictim v = EchoVictim::start();
  ASSERT_EQ(v.echo(1), kRegsIntact | kMemoryIntact);
  pid_t victim = v.child.pid();
  ASSERT_TRUE(wait_until_sleeping(victim));
  const std::string before = snapshot(victim);
  int steps = 0;
  for (int k = 1; k < 400; ++k) {
    ASSERT_TRUE(wait_until_sleeping(victim));
    Child injector([&] {
      int seen = 0;
      RemoteSession::set_step_hook([&](std::string_view) {
        if (++seen == k) die();
      });
      inject(victim, {});
      _exit(10);
    });
    int status = injector.wait();
    if (WIFEXITED(status) && WEXITSTATUS(status) == 10) {
      steps = k - 1;
      break;
    }
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "injector status " << status << " at step " << k;
    ASSERT_EQ(settled_snapshot(victim, before), before) << "after the injector died at step " << k;
    ASSERT_EQ(v.echo(static_cast<uint32_t>(1000 + k)), kRegsIntact | kMemoryIntact) << "after step " << k;
  }
  EXPECT_GT(steps, 20) << "the injection should pass many steps";
}

// And at random moments, with the victim checked after each.
TEST(InjectorDeathRandom, VictimSurvivesKillsAtRandomTimes) {
  EchoVictim v = EchoVictim::start();
  ASSERT_EQ(v.echo(1), kRegsIntact | kMemoryIntact);
  pid_t victim = v.child.pid();
  ASSERT_TRUE(wait_until_sleeping(victim));
  const std::string before = snapshot(victim);
  // How long one injection takes here.
  auto t0 = std::chrono::steady_clock::now();
  {
    Child once([&] {
      inject(victim, {});
      _exit(0);
    });
    ASSERT_EQ(once.wait(), 0);
  }
  const auto span = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<long> delay(0, span.count());
  for (int round = 0; round < 40; ++round) {
    ASSERT_TRUE(wait_until_sleeping(victim));
    Child injector([&] {
      for (;;) inject(victim, {});
    });
    std::this_thread::sleep_for(std::chrono::microseconds(delay(rng)));
    kill(injector.pid(), SIGKILL);
    injector.wait();
    ASSERT_EQ(settled_snapshot(victim, before), before) << "round " << round;
    ASSERT_EQ(v.echo(static_cast<uint32_t>(2000 + round)), kRegsIntact | kMemoryIntact) << "round " << round;
  }
}

}  // namespace
