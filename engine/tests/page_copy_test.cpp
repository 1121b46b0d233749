// Bulk page copies on several threads: every byte arrives, in both directions,
// and an inaccessible page in the middle stops only its own segment.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <type_traits>
#include <vector>

#include "flakelab/victims/victims.h"
#include "page_copy.h"

namespace flakelab::engine {
namespace {

namespace victims = flakelab::victims;

constexpr size_t kSize = size_t{48} << 20;   // above the threshold for threads
constexpr uint64_t kAt = 0x5b0000000000;     // fixed, so the test knows where
constexpr size_t kHolePage = 5000;           // PROT_NONE in the middle

// A segment's remote address is typed: it cannot take the buffer offset's place,
// nor a local pointer, and copy_segments() cannot get the buffer and a remote
// address the wrong way round (the mix-up restore's write_pages could once make).
static_assert(std::is_constructible_v<PageSegment, compel::RemoteAddr, size_t, size_t>);
static_assert(!std::is_constructible_v<PageSegment, uint64_t, size_t, size_t>);
static_assert(!std::is_constructible_v<PageSegment, uint8_t*, size_t, size_t>);
static_assert(!std::is_constructible_v<PageSegment, size_t, size_t, compel::RemoteAddr>);
static_assert(!std::is_assignable_v<decltype((std::declval<PageSegment&>().remote)), uint64_t>);
static_assert(!std::is_assignable_v<decltype((std::declval<PageSegment&>().local_offset)), compel::RemoteAddr>);
static_assert(!std::is_invocable_v<decltype(&copy_segments), pid_t, compel::RemoteAddr, const std::vector<PageSegment>&,
                                   CopyDirection, const BeforeSegment&>);
static_assert(!std::is_invocable_v<decltype(&fill_segments_uffd), int, compel::RemoteAddr,
                                   const std::vector<PageSegment>&, const BeforeSegment&>);

uint8_t pattern(size_t i) { return static_cast<uint8_t>((i >> 12) * 31 + (i & 0xfff)); }

TEST(PageCopy, ManyThreadsCopyEveryByteAndStopOnlyAtTheHole) {
  pid_t pid = victims::start_victim("page-copy victim", [](int ready) {
    auto* p = static_cast<uint8_t*>(
        mmap(reinterpret_cast<void*>(kAt), kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
    for (size_t i = 0; i < kSize; ++i) p[i] = pattern(i);
    mprotect(p + kHolePage * 4096, 4096, PROT_NONE);
    if (write(ready, "r", 1) != 1) _exit(100);
    for (;;) pause();
  });
  pb::Process process;
  auto* run = process.add_pages();
  run->set_vaddr(kAt);
  run->set_nr_pages(kSize / 4096);
  auto segments = page_segments(process);
  ASSERT_EQ(segments.size(), kSize / kCopySegment);
  std::vector<uint8_t> buf(kSize);
  auto done = copy_segments(pid, buf.data(), segments, CopyDirection::kFromProcess);
  size_t hole = kHolePage * 4096;
  for (size_t i = 0; i < segments.size(); ++i) {
    bool has_hole = segments[i].local_offset <= hole && hole < segments[i].local_offset + segments[i].len;
    EXPECT_EQ(done[i], has_hole ? hole - segments[i].local_offset : segments[i].len) << "segment " << i;
  }
  size_t bad = 0;
  for (size_t i = 0; i < hole; ++i) bad += buf[i] != pattern(i);
  for (size_t i = hole + 4096 * 512; i < kSize; ++i) bad += buf[i] != pattern(i);   // past the hole's segment
  EXPECT_EQ(bad, 0u);

  // And back: write a new pattern everywhere but the hole, read it back.
  for (size_t i = 0; i < kSize; ++i) buf[i] = static_cast<uint8_t>(~pattern(i));
  done = copy_segments(pid, buf.data(), segments, CopyDirection::kToProcess);
  std::vector<uint8_t> back(kSize);
  copy_segments(pid, back.data(), segments, CopyDirection::kFromProcess);
  bad = 0;
  for (size_t i = 0; i < hole; ++i) bad += back[i] != static_cast<uint8_t>(~pattern(i));
  EXPECT_EQ(bad, 0u);
  victims::kill_child(pid);
}

TEST(PageCopy, SmallCopiesStayOnOneThread) {
  EXPECT_EQ(copy_threads_for(size_t{1} << 20), 1);
  EXPECT_GE(copy_threads_for(size_t{256} << 20), 1);
  EXPECT_LE(copy_threads_for(size_t{256} << 20), 4);
}

}  // namespace
}  // namespace flakelab::engine
