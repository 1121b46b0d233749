// RemoteAddr / remote_ptr<T>: what must not compile, and what the type does.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <type_traits>

#include "flakelab/base/child_process.h"
#include "flakelab/compel/error.h"
#include "flakelab/compel/remote_memory.h"
#include "flakelab/compel/remote_ptr.h"
#include "flakelab/compel/remote_session.h"
#include "flakelab/compel/syscall_arg.h"

using namespace flakelab::compel;

namespace {

// No way in from an integer or a local pointer without saying so, no way out.
static_assert(std::is_constructible_v<RemoteAddr, uint64_t>);
static_assert(!std::is_convertible_v<uint64_t, RemoteAddr>);
static_assert(!std::is_convertible_v<long, RemoteAddr>);
static_assert(!std::is_convertible_v<int, RemoteAddr>);
static_assert(!std::is_constructible_v<RemoteAddr, void*>);
static_assert(!std::is_constructible_v<RemoteAddr, const uint8_t*>);
static_assert(!std::is_convertible_v<RemoteAddr, uint64_t>);
static_assert(!std::is_convertible_v<RemoteAddr, long>);
static_assert(!std::is_convertible_v<RemoteAddr, bool>);
static_assert(!std::is_convertible_v<RemoteAddr, void*>);
static_assert(!std::is_constructible_v<void*, RemoteAddr>);
static_assert(!std::is_constructible_v<uint64_t, RemoteAddr>);

static_assert(!std::is_convertible_v<uint64_t, remote_ptr<int>>);
static_assert(!std::is_constructible_v<remote_ptr<int>, int*>);
static_assert(!std::is_convertible_v<remote_ptr<int>, int*>);
static_assert(!std::is_convertible_v<remote_ptr<int>, uint64_t>);
static_assert(!std::is_convertible_v<RemoteAddr, remote_ptr<int>>);  // adding a type is explicit
static_assert(std::is_convertible_v<remote_ptr<int>, RemoteAddr>);   // dropping it is not
static_assert(!std::is_convertible_v<remote_ptr<int>, remote_ptr<long>>);

// A syscall argument is an integer or a tracee address, never a local pointer.
static_assert(std::is_convertible_v<RemoteAddr, SyscallArg>);
static_assert(std::is_convertible_v<remote_ptr<char>, SyscallArg>);
static_assert(std::is_convertible_v<long, SyscallArg>);
static_assert(std::is_convertible_v<unsigned, SyscallArg>);
static_assert(!std::is_convertible_v<void*, SyscallArg>);
static_assert(!std::is_convertible_v<const char*, SyscallArg>);
static_assert(!std::is_convertible_v<std::nullptr_t, SyscallArg>);
static_assert(!std::is_convertible_v<double, SyscallArg>);
template <typename... Args>
concept SyscallTakes = requires(RemoteSession& s, Args... args) { s.syscall(0L, args...); };
static_assert(SyscallTakes<RemoteAddr, size_t, int>);
static_assert(SyscallTakes<remote_ptr<char>, long>);
static_assert(!SyscallTakes<void*, size_t>);
static_assert(!SyscallTakes<RemoteAddr, const char*>);

// Local and remote sides of a copy cannot be swapped.
static_assert(std::is_invocable_v<decltype(&write_remote), pid_t, RemoteAddr, const void*, size_t, std::string_view>);
static_assert(!std::is_invocable_v<decltype(&write_remote), pid_t, const void*, RemoteAddr, size_t, std::string_view>);
static_assert(!std::is_invocable_v<decltype(&write_remote), pid_t, uint64_t, const void*, size_t, std::string_view>);
static_assert(!std::is_invocable_v<decltype(&read_remote), pid_t, void*, RemoteAddr, size_t, std::string_view>);
static_assert(!std::is_invocable_v<decltype(&read_remote), pid_t, uint64_t, void*, size_t, std::string_view>);

// All of it usable in constant expressions.
static_assert((RemoteAddr(0x1000) + 0x10).as_int() == 0x1010);
static_assert((remote_ptr<uint64_t>(0x1000) + 2).as_int() == 0x1010);
static_assert(sizeof(RemoteAddr) == 8 && std::is_trivially_copyable_v<RemoteAddr>);

}  // namespace

TEST(RemoteAddr, DefaultIsNull) {
  EXPECT_TRUE(RemoteAddr().is_null());
  EXPECT_FALSE(RemoteAddr(1).is_null());
  EXPECT_EQ(RemoteAddr().as_int(), 0u);
}

TEST(RemoteAddr, ArithmeticIsByBytes) {
  RemoteAddr a(0x7f0000001000);
  EXPECT_EQ((a + 8).as_int(), 0x7f0000001008u);
  EXPECT_EQ((a - 0x1000).as_int(), 0x7f0000000000u);
  EXPECT_EQ((a + 24) - a, 24);
  EXPECT_EQ(a - (a + 24), -24);
  RemoteAddr b = a;
  b += 4096;
  EXPECT_EQ(b - a, 4096);
  b -= 4096;
  EXPECT_EQ(b, a);
}

TEST(RemoteAddr, Alignment) {
  RemoteAddr a(0x1234);
  EXPECT_FALSE(a.is_aligned(4096));
  EXPECT_EQ(a.align_down(4096), RemoteAddr(0x1000));
  EXPECT_EQ(a.align_up(4096), RemoteAddr(0x2000));
  EXPECT_EQ(RemoteAddr(0x2000).align_up(4096), RemoteAddr(0x2000));
  EXPECT_TRUE(RemoteAddr(0x2000).is_aligned(4096));
}

TEST(RemoteAddr, Compares) {
  EXPECT_LT(RemoteAddr(1), RemoteAddr(2));
  EXPECT_GE(RemoteAddr(2), RemoteAddr(2));
  EXPECT_NE(RemoteAddr(1), RemoteAddr(2));
  EXPECT_GT(RemoteAddr(~uint64_t{0}), RemoteAddr(0));  // unsigned, as the kernel's addresses
}

TEST(RemoteAddr, FormatsInHex) {
  EXPECT_EQ(fmt::format("{}", RemoteAddr(0x7ffd1000)), "0x7ffd1000");
  EXPECT_EQ(fmt::format("{}", RemoteAddr()), "0x0");
  EXPECT_EQ(fmt::format("{:016x}", RemoteAddr(0xabc)), "0000000000000abc");
  EXPECT_EQ(fmt::format("at {} and {}", remote_ptr<int>(0x10), RemoteAddr(0x20)), "at 0x10 and 0x20");
  std::ostringstream os;
  os << RemoteAddr(0xff) << " " << remote_ptr<char>(0x1);
  EXPECT_EQ(os.str(), "0xff 0x1");
}

TEST(RemotePtr, ArithmeticIsByElements) {
  struct Entry {
    uint64_t words[7];
  };
  remote_ptr<Entry> p(RemoteAddr(0x1000));
  EXPECT_EQ((p + 1).as_int(), 0x1000u + 56);
  EXPECT_EQ((p + 3) - p, 3);
  EXPECT_EQ(((p + 3) - 1).as_int(), 0x1000u + 2 * 56);
  remote_ptr<Entry> q = p;
  ++q;
  EXPECT_EQ(RemoteAddr(q) - RemoteAddr(p), 56);
  --q;
  EXPECT_EQ(q, p);
  EXPECT_LT(p, p + 1);
  EXPECT_EQ(remote_ptr<Entry>::element_size(), 56u);
}

TEST(SyscallArg, RegisterValuesAsTheCLibraryPassesThem) {
  EXPECT_EQ(SyscallArg(-1).register_value(), ~uint64_t{0});
  EXPECT_EQ(SyscallArg(-1L).register_value(), ~uint64_t{0});
  EXPECT_EQ(SyscallArg(~0u).register_value(), 0xffffffffu);  // unsigned: zero-extended
  EXPECT_EQ(SyscallArg(size_t{4096}).register_value(), 4096u);
  EXPECT_EQ(SyscallArg(RemoteAddr(0x7f00)).register_value(), 0x7f00u);
  EXPECT_EQ(SyscallArg(remote_ptr<int>(0x40)).register_value(), 0x40u);
  EXPECT_EQ(SyscallArg().register_value(), 0u);
}

// A child that sleeps; it has our memory layout, so our globals' addresses are its too.
class RemoteMemory : public ::testing::Test {
 protected:
  void SetUp() override {
    owner_ = flakelab::base::ChildProcess::fork([] {
      for (;;) pause();
    });
    child_ = owner_.pid();
  }
  flakelab::base::ChildProcess owner_;  // killed and reaped with the fixture
  pid_t child_ = -1;
};

uint64_t g_cell = 0x1111;

TEST_F(RemoteMemory, WritesAndReadsBack) {
  RemoteAddr cell(reinterpret_cast<uintptr_t>(&g_cell));
  uint64_t v = 0x2222;
  write_remote(child_, cell, &v, sizeof(v), "test cell");
  uint64_t got = 0;
  read_remote(child_, cell, &got, sizeof(got), "test cell");
  EXPECT_EQ(got, 0x2222u);
  EXPECT_EQ(g_cell, 0x1111u);  // ours is untouched
}

TEST_F(RemoteMemory, ErrorNamesPidAddressAndErrno) {
  uint64_t v = 0;
  try {
    write_remote(child_, RemoteAddr(0x10), &v, sizeof(v), "nowhere");
    FAIL() << "no error";
  } catch (const CompelError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("process_vm_writev pid " + std::to_string(child_) + " at 0x10"), std::string::npos) << msg;
    EXPECT_NE(msg.find("nowhere"), std::string::npos) << msg;
    EXPECT_EQ(e.error_number(), EFAULT) << msg;
  }
  EXPECT_THROW(read_remote(child_, RemoteAddr(0x10), &v, sizeof(v), "nowhere"), CompelError);
}
