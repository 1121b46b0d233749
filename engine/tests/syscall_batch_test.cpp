// SyscallBatch: calls made in order in the target, with the memory they read;
// more calls and data than one batch holds; the first failure named and the
// calls after it not made.
#include "syscall_batch.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <string>
#include <type_traits>

#include "flakelab/compel/error.h"
#include "flakelab/compel/remote_memory.h"
#include "flakelab/compel/remote_session.h"
#include "flakelab/compel/seized_process.h"
#include "flakelab/victims/victims.h"
#include "test_support.h"
#include "trampoline.h"

namespace flakelab::engine {
namespace {

namespace victims = flakelab::victims;
using testing::ChildPid;
using testing::proc_status_field;

pid_t start_sleeper() {
  return victims::start_victim("sleeper", [](int ready) {
    if (write(ready, "r", 1) != 1) _exit(100);
    for (;;) pause();
  });
}

std::string comm_of(pid_t pid) { return proc_status_field(pid, "Name"); }

// put() hands back the target's address, which goes to add() as is; a local
// buffer does not pass for one.
template <typename... Args>
concept BatchTakes = requires(SyscallBatch& b, Args... args) { b.add("call", 0L, args...); };
static_assert(std::is_same_v<decltype(std::declval<SyscallBatch&>().put(nullptr, 0)), compel::RemoteAddr>);
static_assert(BatchTakes<compel::RemoteAddr, size_t, int>);
static_assert(!BatchTakes<const char*>);
static_assert(!BatchTakes<void*, size_t>);
static_assert(!std::is_convertible_v<uint64_t, decltype(Trampoline::base)>);

// A trampoline's code mapped into a seized victim, as a restore has it.
struct Target {
  ChildPid child{start_sleeper()};
  compel::SeizedProcess process{child.pid};
  compel::RemoteSession session{process.leader()};
  Trampoline t;

  Target() {
    long base = session.syscall_checked("mmap trampoline", SYS_mmap, 0, Trampoline::kSize,
                                        PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    t.base = compel::RemoteAddr(static_cast<uint64_t>(base));
    auto code = trampoline_code(0);
    compel::write_remote(child.pid, t.base, code.data(), code.size(), "trampoline code");
  }
};

TEST(SyscallBatch, MakesThousandsOfCallsWithTheirDataInOrder) {
  Target target;
  SyscallBatch batch(target.session, target.child.pid, target.t, "test");
  // 3,000 names of 16 bytes: more calls than one table holds and more data than
  // one data area, so put() and add() both flush on the way.
  std::string last;
  for (int i = 0; i < 3000; ++i) {
    char name[16];  // "batch" and 5 digits: i < 3000
    snprintf(name, sizeof(name), "batch%05u", static_cast<unsigned>(i) % 100000u);
    last = name;
    batch.add("prctl PR_SET_NAME " + last, SYS_prctl, PR_SET_NAME, batch.put(name, sizeof(name)));
  }
  EXPECT_GT(batch.pending(), 0u);
  EXPECT_NE(comm_of(target.child.pid), last) << "the last call ran before flush()";
  batch.flush();
  EXPECT_EQ(batch.pending(), 0u);
  EXPECT_EQ(comm_of(target.child.pid), last);
}

TEST(SyscallBatch, FirstFailureIsNamedAndTheRestIsNotMade) {
  Target target;
  SyscallBatch batch(target.session, target.child.pid, target.t, "restoring pid 42");
  const char first[16] = "first";
  const char after[16] = "after";
  batch.add("prctl PR_SET_NAME first", SYS_prctl, PR_SET_NAME, batch.put(first, sizeof(first)));
  batch.add("close of a bad fd", SYS_close, 100000);
  batch.add("prctl PR_SET_NAME after", SYS_prctl, PR_SET_NAME, batch.put(after, sizeof(after)));
  try {
    batch.flush();
    FAIL() << "flush succeeded";
  } catch (const compel::CompelError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("remote close of a bad fd (restoring pid 42) in tid " + std::to_string(target.child.pid)),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("EBADF"), std::string::npos) << msg;
    EXPECT_EQ(e.error_number(), EBADF);
  }
  EXPECT_EQ(comm_of(target.child.pid), "first") << "a call after the failed one was made";
  // The batch is usable again, and the thread still answers remote calls.
  batch.add("getpid", SYS_getpid);
  EXPECT_NO_THROW(batch.flush());
  EXPECT_EQ(target.session.syscall(SYS_getpid), target.child.pid);
}

}  // namespace
}  // namespace flakelab::engine
