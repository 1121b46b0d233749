#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "flakelab/compel/error.h"
#include "flakelab/compel/proc.h"
#include "flakelab/compel/remote_session.h"
#include "flakelab/compel/seized_process.h"
#include "echo_victim.h"

using namespace flakelab::compel;
using namespace flakelab::compel::testing;

namespace {

// A shared page the victim bumps continuously, so we can see it run.
struct SharedCounter {
  std::atomic<uint64_t>* value;
  SharedCounter() {
    void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    value = new (p) std::atomic<uint64_t>(0);
  }
  ~SharedCounter() { munmap(value, 4096); }
  bool advances(int ms = 2000) const {
    uint64_t start = value->load();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (value->load() != start) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }
};

std::string error_of(pid_t pid) {
  try {
    SeizedProcess p(pid);
  } catch (const CompelError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Seize, StopsEveryThreadAndReleasesThemRunning) {
  SharedCounter counter;
  Child victim([&] {
    for (;;) counter.value->fetch_add(1);
  });
  ASSERT_TRUE(counter.advances());
  {
    SeizedProcess p(victim.pid());
    ASSERT_EQ(p.threads().size(), 1u);
    EXPECT_FALSE(p.was_stopped());
    uint64_t frozen = counter.value->load();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(counter.value->load(), frozen) << "a seized thread kept running";
    EXPECT_EQ(proc::read_status(victim.pid())->tracer_pid, getpid());
  }
  EXPECT_EQ(proc::read_status(victim.pid())->tracer_pid, 0);
  EXPECT_TRUE(counter.advances()) << "victim does not run after release";
}

TEST(Seize, PicksUpThreadsCreatedWhileSeizing) {
  // The victim keeps creating short-lived and long-lived threads.
  Child victim([] {
    std::vector<std::thread> keep;
    for (int i = 0; i < 200; ++i) {
      keep.emplace_back([] { pause(); });
      std::thread([] {}).join();
    }
    for (;;) std::thread([] { std::this_thread::sleep_for(std::chrono::microseconds(50)); }).join();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  for (int round = 0; round < 20; ++round) {
    SeizedProcess p(victim.pid());
    std::set<pid_t> seized;
    for (auto& t : p.threads()) seized.insert(t->tid());
    for (pid_t tid : proc::list_threads(victim.pid()))
      EXPECT_TRUE(seized.count(tid)) << "thread " << tid << " was not seized (round " << round << ")";
    for (pid_t tid : seized) EXPECT_EQ(proc::read_status(tid)->tracer_pid, getpid());
  }
  EXPECT_NE(process_state(victim.pid()), 'Z');
}

TEST(Seize, JobControlStoppedProcessStaysStopped) {
  SharedCounter counter;
  Child victim([&] {
    for (;;) counter.value->fetch_add(1);
  });
  ASSERT_TRUE(counter.advances());
  kill(victim.pid(), SIGSTOP);
  int status;
  ASSERT_EQ(waitpid(victim.pid(), &status, WUNTRACED), victim.pid());
  ASSERT_TRUE(WIFSTOPPED(status));
  {
    SeizedProcess p(victim.pid());
    EXPECT_TRUE(p.was_stopped());
    EXPECT_TRUE(p.leader().group_stopped());
    RemoteSession rs(p.leader());
    EXPECT_EQ(rs.syscall(SYS_getpid), victim.pid());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(process_state(victim.pid()), 'T');
  EXPECT_FALSE(counter.advances(50)) << "a stopped victim was resumed by release";
  kill(victim.pid(), SIGCONT);
  EXPECT_TRUE(counter.advances());
}

TEST(Seize, RefusesNonexistentPid) {
  Child gone([] {});
  pid_t pid = gone.pid();
  gone.wait();
  EXPECT_NE(error_of(pid).find("no such process"), std::string::npos) << error_of(pid);
  EXPECT_NE(error_of(-5).find("not a valid process id"), std::string::npos);
}

TEST(Seize, RefusesZombie) {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  for (int i = 0; i < 1000 && process_state(pid) != 'Z'; ++i) usleep(1000);
  std::string err = error_of(pid);
  waitpid(pid, nullptr, 0);
  EXPECT_NE(err.find("zombie"), std::string::npos) << err;
}

TEST(Seize, RefusesProcessTracedBySomeoneElse) {
  Child victim([] {
    for (;;) pause();
  });
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t victim_pid = victim.pid();
  Child tracer([&] {
    if (ptrace(PTRACE_SEIZE, victim_pid, nullptr, nullptr) != 0) _exit(1);
    char c = 1;
    if (write(ready[1], &c, 1) != 1) _exit(2);
    for (;;) pause();
  });
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  close(ready[1]);
  std::string err = error_of(victim.pid());
  EXPECT_NE(err.find("already traced by pid " + std::to_string(tracer.pid())), std::string::npos) << err;
}

TEST(Seize, RefusesKernelThread) {
  auto st = proc::read_status(2);
  if (!st || !st->kernel_thread) GTEST_SKIP() << "no kernel thread visible as pid 2 here";
  std::string err = error_of(2);
  EXPECT_NE(err.find("kernel thread"), std::string::npos) << err;
}

TEST(Seize, RefusesTheInjectorItself) {
  EXPECT_NE(error_of(getpid()).find("injector itself"), std::string::npos);
  pid_t tid = 0;
  std::atomic<bool> done{false};
  std::thread t([&] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (tid == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::string err = error_of(tid);
  done = true;
  t.join();
  EXPECT_NE(err.find("injector itself"), std::string::npos) << err;
}
