#include "flakelab/harness/binding.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "flakelab/base/child_process.h"
#include "flakelab/harness/error.h"
#include "flakelab/harness/pipe_fds.h"
#include "flakelab/harness/topology.h"

namespace flakelab::harness {
namespace {

using scenarios::Role;

// A child with two threads, each pinned where asked (after `delay_us`, once the parent
// was told it runs); killed and reaped at scope end.
class PinnedChild {
 public:
  PinnedChild(int main_cpu, int thread_cpu, useconds_t delay_us = 0) {
    PipeFds ready = make_pipe();
    const pid_t pid = ::fork();
    if (pid < 0) throw os_error("fork");
    if (pid == 0) {
      if (delay_us > 0) {
        (void)!::write(ready.write.get(), "R", 1);
        ::usleep(delay_us);
      }
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(main_cpu, &set);
      if (::sched_setaffinity(0, sizeof set, &set) != 0) ::_exit(1);
      std::thread other([thread_cpu] {
        cpu_set_t mine;
        CPU_ZERO(&mine);
        CPU_SET(thread_cpu, &mine);
        ::sched_setaffinity(0, sizeof mine, &mine);
        ::pause();
      });
      ::usleep(20000);  // let the thread pin itself
      if (delay_us == 0) (void)!::write(ready.write.get(), "R", 1);
      ::pause();
      ::_exit(0);
    }
    child_ = base::ChildProcess(pid);
    ready.write.reset();
    char byte = 0;
    if (::read(ready.read.get(), &byte, 1) != 1) throw std::runtime_error("child not ready");
  }
  pid_t pid() const { return child_.pid(); }

 private:
  base::ChildProcess child_;
};

class BindingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (topology_.pus().size() < 2) GTEST_SKIP() << "needs 2 usable CPUs";
    a_ = topology_.pus()[0];
    b_ = topology_.pus()[1];
  }
  Topology topology_;
  int a_ = 0;
  int b_ = 0;
};

TEST_F(BindingTest, RecordsEveryThreadPinnedWhereAsked) {
  PinnedChild child(a_, a_);
  Placement placement;
  placement.set(Role::kVictim, a_);
  BindingRecorder recorder(topology_, placement);
  EXPECT_EQ(thread_ids(child.pid()).size(), 2u);
  recorder.record(Role::kVictim, child.pid());
  EXPECT_EQ(recorder.cpus_used(), "victim=" + std::to_string(a_));
}

TEST_F(BindingTest, WaitsForAFreshChildToPinItself) {
  PinnedChild child(a_, a_, 50000);  // pins itself 50 ms after saying it runs
  Placement placement;
  placement.set(Role::kVictim, a_);
  BindingRecorder recorder(topology_, placement);
  const auto start = std::chrono::steady_clock::now();
  recorder.record(Role::kVictim, child.pid());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(40));
  EXPECT_EQ(recorder.cpus_used(), "victim=" + std::to_string(a_));
  EXPECT_EQ(thread_affinity(child.pid()), std::vector<int>{a_});
}

TEST_F(BindingTest, OneStrayThreadIsAMismatch) {
  PinnedChild child(a_, b_);
  Placement placement;
  placement.set(Role::kVictim, a_);
  BindingRecorder recorder(topology_, placement, std::chrono::milliseconds(100));
  const auto start = std::chrono::steady_clock::now();
  try {
    recorder.record(Role::kVictim, child.pid());
    ADD_FAILURE() << "a thread on CPU " << b_ << " passed the check for CPU " << a_;
  } catch (const HarnessError& e) {
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
    EXPECT_NE(std::string(e.what()).find("(still, 100 ms after the check began)"),
              std::string::npos)
        << e.what();
    const std::string what = e.what();
    EXPECT_NE(what.find("victim pid " + std::to_string(child.pid())), std::string::npos) << what;
    EXPECT_NE(what.find("may run on CPUs " + std::to_string(b_) + ", expected only CPU " +
                        std::to_string(a_)),
              std::string::npos)
        << what;
  }
  EXPECT_EQ(recorder.cpus_used(), "");
}

TEST_F(BindingTest, UnpinnedRolesRecordTheUnionOfTheirThreads) {
  PinnedChild child(a_, b_);
  BindingRecorder recorder(topology_, Placement{});
  recorder.record(Role::kWriter, child.pid());
  recorder.record(Role::kInjector, ::getpid());
  EXPECT_EQ(recorder.cpus_used(), "injector=" + format_cpu_list(thread_affinity(::getpid())) +
                                      ",writer=" + format_cpu_list({a_, b_}));
}

TEST_F(BindingTest, BindSelfPinsTheCallingProcessOnlyWhenTheRoleIsPinned) {
  Placement placement;
  placement.set(Role::kVictim, b_);
  BindingRecorder recorder(topology_, placement);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::vector<int> before = thread_affinity(0);
    recorder.bind_self(Role::kWriter);  // unpinned: no-op
    if (thread_affinity(0) != before) ::_exit(1);
    recorder.bind_self(Role::kVictim);
    ::_exit(thread_affinity(0) == std::vector<int>{b_} ? 0 : 2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(Binding, AProcessThatIsGoneIsAnError) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(pid, nullptr, 0), pid);
  Topology topology;
  BindingRecorder recorder(topology, Placement{});
  try {
    recorder.record(Role::kVictim, pid);
    ADD_FAILURE() << "recorded a reaped process";
  } catch (const HarnessError& e) {
    EXPECT_NE(std::string(e.what()).find("/proc/" + std::to_string(pid) + "/task"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace flakelab::harness
