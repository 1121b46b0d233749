#include "cpu_colocation.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <thread>

#include "page_copy.h"

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

TEST(CpuColocation, LastCpuOfAProcessIsOneItMayRunOn) {
  int cpu = last_cpu_of(getpid());
  cpu_set_t mine = affinity();
  ASSERT_GE(cpu, 0);
  EXPECT_TRUE(CPU_ISSET(cpu, &mine));
  EXPECT_EQ(last_cpu_of(-1), -1);
}

}  // namespace
