// If the injector is SIGKILLed at any step, the victim must keep running with its
// registers and memory intact: the kernel detaches it, and a running parasite sees
// its socket close and returns to the victim's saved context by itself.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "flakelab/compel/parasite.h"
#include "flakelab/compel/proc.h"
#include "flakelab/compel/seized_process.h"
#include "echo_victim.h"

using namespace flakelab::compel;
using namespace flakelab::compel::testing;

namespace {

class InjectorDeath : public ::testing::TestWithParam<std::string> {};

[[noreturn]] void die() {
  kill(getpid(), SIGKILL);
  for (;;) pause();
}

TEST_P(InjectorDeath, VictimSurvivesIntact) {
  const std::string when = GetParam();
  EchoVictim v = EchoVictim::start();
  ASSERT_EQ(v.echo(1), kRegsIntact | kMemoryIntact);
  pid_t victim = v.child.pid();
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
    // The kernel detaches the victim when its tracer dies.
    for (int i = 0; i < 1000 && proc::read_status(victim)->tracer_pid != 0; ++i) usleep(1000);
    EXPECT_EQ(proc::read_status(victim)->tracer_pid, 0);
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

}  // namespace
