#include "cpu_colocation.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <thread>
#include <vector>

#include "flakelab/base/child_process.h"
#include "flakelab/engine/dump.h"
#include "flakelab/engine/error.h"
#include "flakelab/victims/victims.h"
#include "page_copy.h"
#include "test_support.h"

using namespace flakelab::engine;

namespace {

cpu_set_t affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  return set;
}

TEST(CpuColocation, PinsForItsLifetimeAndPutsTheMaskBack) {
  cpu_set_t before = affinity();
  if (CPU_COUNT(&before) < 2) GTEST_SKIP() << "needs two CPUs";
  int target = -1;
  for (int c = CPU_SETSIZE - 1; c >= 0 && target < 0; --c)
    if (CPU_ISSET(c, &before)) target = c;  // the last allowed CPU, not necessarily ours
  {
    CpuColocation near(target);
    ASSERT_TRUE(near.pinned());
    cpu_set_t now = affinity();
    EXPECT_EQ(CPU_COUNT(&now), 1);
    EXPECT_TRUE(CPU_ISSET(target, &now));
    EXPECT_EQ(sched_getcpu(), target);
    // Parallel work still sees every CPU of the caller.
    cpu_set_t spread = caller_affinity();
    EXPECT_TRUE(CPU_EQUAL(&spread, &before));
    EXPECT_EQ(copy_threads_for(size_t{256} << 20), std::min(CPU_COUNT(&before), 4));
    {
      CpuColocation inner;  // already on one CPU: nothing to do
      EXPECT_FALSE(inner.pinned());
    }
    cpu_set_t still = affinity();
    EXPECT_EQ(CPU_COUNT(&still), 1);
  }
  cpu_set_t after = affinity();
  EXPECT_TRUE(CPU_EQUAL(&after, &before));
}

TEST(CpuColocation, ACpuOutsideTheMaskIsLeftAlone) {
  cpu_set_t before = affinity();
  CpuColocation away(CPU_SETSIZE - 1);
  if (CPU_ISSET(CPU_SETSIZE - 1, &before)) GTEST_SKIP();
  EXPECT_FALSE(away.pinned());
  cpu_set_t now = affinity();
  EXPECT_TRUE(CPU_EQUAL(&now, &before));
  EXPECT_TRUE(away.restore_original_affinity(getpid()));
}

TEST(CpuColocation, RestoresAnotherThreadToTheCallersMask) {
  cpu_set_t before = affinity();
  if (CPU_COUNT(&before) < 2) GTEST_SKIP() << "needs two CPUs";
  CpuColocation near;
  ASSERT_TRUE(near.pinned());
  cpu_set_t seen;
  std::thread t([&] {
    // Born pinned (inherited), then given the caller's mask as restore does.
    EXPECT_TRUE(near.restore_original_affinity(0));
    sched_getaffinity(0, sizeof(seen), &seen);
  });
  t.join();
  EXPECT_TRUE(CPU_EQUAL(&seen, &before));
}

cpu_set_t affinity_of(pid_t tid) {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(sched_getaffinity(tid, sizeof(set), &set), 0);
  return set;
}

TEST(TraceePins, PutThreadsOnTheEnginesCpuAndTheirMasksBack) {
  cpu_set_t before = affinity();
  if (CPU_COUNT(&before) < 2) GTEST_SKIP() << "needs two CPUs";
  const flakelab::base::ChildProcess owner = flakelab::base::ChildProcess::fork([] {
    for (;;) pause();
  });
  const pid_t child = owner.pid();
  {
    CpuColocation near;
    ASSERT_TRUE(near.pinned());
    TraceePins pins;
    pins.pin(near, {child});
    cpu_set_t pinned = affinity_of(child);
    EXPECT_EQ(CPU_COUNT(&pinned), 1);
    EXPECT_TRUE(CPU_ISSET(near.cpu(), &pinned));
    EXPECT_TRUE(pins.restore());
    cpu_set_t back = affinity_of(child);
    EXPECT_TRUE(CPU_EQUAL(&back, &before));
    pins.pin(near, {child});
  }  // the destructor puts it back too
  cpu_set_t back = affinity_of(child);
  EXPECT_TRUE(CPU_EQUAL(&back, &before));
  {
    CpuColocation away(CPU_SETSIZE - 1);  // did not pin: neither do the pins
    TraceePins pins;
    pins.pin(away, {child});
    cpu_set_t same = affinity_of(child);
    EXPECT_TRUE(CPU_EQUAL(&same, &before));
  }
}

// An engine SIGKILLed while tracees are pinned (at once, or after forget() but
// before it killed them) leaves them with their own masks: its PinGuardian puts
// them back.
TEST(TraceePins, AKilledEngineLeavesNoThreadPinned) {
  cpu_set_t before = affinity();
  if (CPU_COUNT(&before) < 2) GTEST_SKIP() << "needs two CPUs";
  const flakelab::base::ChildProcess owner = flakelab::base::ChildProcess::fork([] {
    for (;;) pause();
  });
  const pid_t child = owner.pid();
  for (bool forgotten : {false, true}) {
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    flakelab::base::ChildProcess engine = flakelab::base::ChildProcess::fork([&] {
      CpuColocation near;
      TraceePins pins;
      pins.pin(near, {child});
      if (forgotten) pins.forget();
      char c = 'p';
      if (write(ready[1], &c, 1) != 1) _exit(1);
      for (;;) pause();
    });
    close(ready[1]);
    char c;
    ASSERT_EQ(read(ready[0], &c, 1), 1);
    close(ready[0]);
    cpu_set_t pinned = affinity_of(child);
    EXPECT_EQ(CPU_COUNT(&pinned), 1) << "the engine did not pin";
    engine.kill_and_reap();
    cpu_set_t back = affinity_of(child);
    for (int i = 0; i < 500 && !CPU_EQUAL(&back, &before); ++i) {
      usleep(1000);
      back = affinity_of(child);
    }
    EXPECT_TRUE(CPU_EQUAL(&back, &before)) << (forgotten ? "after forget()" : "pinned");
  }
}

// A dump pins the victim's threads beside the engine while it works; a victim
// left running gets every thread's own mask back, one pinned elsewhere included.
TEST(TraceePins, LeaveRunningGivesEveryThreadItsMaskBack) {
  cpu_set_t all = affinity();
  if (CPU_COUNT(&all) < 2) GTEST_SKIP() << "needs two CPUs";
  flakelab::engine::testing::ChildPid v{flakelab::engine::testing::start_thread_victim(3)};
  std::vector<pid_t> tids = flakelab::engine::testing::thread_ids(v.pid);
  ASSERT_EQ(tids.size(), 4u);
  // One thread kept to a single CPU of its own.
  int first = -1;
  for (int c = 0; c < CPU_SETSIZE && first < 0; ++c)
    if (CPU_ISSET(c, &all)) first = c;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(tids[2], sizeof(one), &one), 0);
  std::map<pid_t, cpu_set_t> masks;
  for (pid_t t : tids) masks[t] = affinity_of(t);
  dump_process(v.pid, DumpOptions{.leave_running = true});
  for (pid_t t : tids) {
    cpu_set_t now = affinity_of(t);
    EXPECT_TRUE(CPU_EQUAL(&now, &masks[t])) << "thread " << t;
  }
  // A dump that fails once the threads are frozen (and pinned): the same.
  EXPECT_THROW(dump_process_to_dir(v.pid, "/proc/self/no-such-dir/img"), EngineError);
  for (pid_t t : tids) {
    cpu_set_t now = affinity_of(t);
    EXPECT_TRUE(CPU_EQUAL(&now, &masks[t])) << "thread " << t << " after a failed dump";
  }
  ASSERT_TRUE(flakelab::engine::testing::wait_all_sleeping(v.pid));
  ASSERT_EQ(kill(v.pid, SIGUSR1), 0);
  EXPECT_EQ(flakelab::engine::testing::exit_code(v.pid), flakelab::engine::testing::kVictimOk);
  v.pid = -1;
}

TEST(CpuColocation, LastCpuOfAProcessIsOneItMayRunOn) {
  int cpu = last_cpu_of(getpid());
  cpu_set_t mine = affinity();
  ASSERT_GE(cpu, 0);
  EXPECT_TRUE(CPU_ISSET(cpu, &mine));
  EXPECT_EQ(last_cpu_of(-1), -1);
}

}  // namespace
